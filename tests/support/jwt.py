"""CDS client JWTs for tests (CDS Hooks 2.0 §Trusting CDS Clients): keys generated per test run,
never committed: make a key, publish its JWKS, sign a token."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey


def make_key(alg: str = "ES384", kid: str | None = None):
    """A fresh private key for ``alg`` (ES384 or RS384)."""
    kid = kid or f"test-{alg.lower()}-{uuid.uuid4().hex[:8]}"
    if alg == "ES384":
        return ECKey.generate_key("P-384", parameters={"kid": kid, "alg": alg, "use": "sig"})
    if alg == "RS384":
        return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": alg, "use": "sig"})
    raise ValueError(f"unsupported test key algorithm {alg}")


def jwks(*keys) -> dict:
    """The public JWK Set for ``keys`` (private parts removed)."""
    return KeySet(list(keys)).as_dict(private=False)


def claims(iss: str, aud: str | list[str], *, lifetime: int = 300, jti: str | None = None, **extra) -> dict:
    now = int(time.time())
    return {"iss": iss, "aud": aud, "iat": now, "exp": now + lifetime, "jti": jti or uuid.uuid4().hex, **extra}


def sign(key, iss: str, aud: str | list[str], *, jku: str | None = None, header: dict | None = None,
         **claim_overrides) -> str:
    """A CDS client JWT signed with ``key`` (its ``alg`` and ``kid`` go in the header)."""
    alg = key.alg or ("ES384" if isinstance(key, ECKey) else "RS384")
    hdr = {"alg": alg, "typ": "JWT", "kid": key.kid}
    if jku:
        hdr["jku"] = jku
    hdr.update(header or {})
    hdr = {k: v for k, v in hdr.items() if v is not None}  # header={"kid": None} drops the kid
    body = claims(iss, aud, **{k: v for k, v in claim_overrides.items() if k in ("lifetime", "jti")})
    body.update({k: v for k, v in claim_overrides.items() if k not in ("lifetime", "jti")})
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(hdr, body, key, algorithms=[hdr["alg"]])


def inferno_style(key, iss: str, aud: str) -> str:
    """Like the Inferno CRD suite's token: no tenant, jti = 64 hex characters, jku = iss/jwks.json."""
    return sign(key, iss, aud, jku=f"{iss}/jwks.json", jti=secrets.token_hex(32))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(iss: str, aud: str) -> str:
    """An ``alg: none`` token (must be refused)."""
    head = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{head}.{_b64(json.dumps(claims(iss, aud)).encode())}."


def hmac_signed(iss: str, aud: str, secret: bytes = b"0" * 32) -> str:
    """An HS256 token (must be refused: symmetric algorithms are forbidden)."""
    key = OctKey.import_key(secret)
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims(iss, aud), key, algorithms=["HS256"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
