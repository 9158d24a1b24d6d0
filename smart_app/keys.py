"""painpa's own signing key for SMART confidential-asymmetric client authentication
(SMART App Launch 2.2 ``client-confidential-asymmetric``, RFC 7523 ``private_key_jwt``; standards.md §5.2).

The key is generated into ``PAINPA_HOME`` on first use (mode 0600, never committed); only its public
half is ever served, at ``/.well-known/jwks.json``. ES384 is one of the two algorithms SMART servers
SHALL accept (ES384, RS384).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path

from joserfc import jwe, jwt
from joserfc.jwk import ECKey, OctKey

ALG = "ES384"
KEY_FILE = "smart_client_key.json"
SEAL_KEY_FILE = "smart_seal_key"
_SEAL = {"alg": "dir", "enc": "A256GCM"}
_lock = threading.Lock()
_cache: dict[Path, ECKey] = {}


def _create_once(path: Path, content: str) -> None:
    """Write ``path`` (mode 0600) unless it exists. The hard link is atomic and fails when another
    worker process won the race, so every worker ends up with the same key."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def load_key(home: Path) -> ECKey:
    """Return the instance key, creating it atomically on first use."""
    path = Path(home) / KEY_FILE
    with _lock:
        if path in _cache:
            return _cache[path]
        if not path.exists():
            key = ECKey.generate_key("P-384", private=True)
            data = key.as_dict(private=True)
            data["kid"] = key.thumbprint()
            _create_once(path, json.dumps(data))
        key = ECKey.import_key(json.loads(path.read_text()))
        _cache[path] = key
        return key


def public_jwks(home: Path) -> dict:
    key = load_key(home)
    pub = key.as_dict(private=False)
    pub.update(kid=key.kid or key.thumbprint(), alg=ALG, use="sig", key_ops=["verify"])
    return {"keys": [pub]}


def client_assertion(home: Path, client_id: str, token_endpoint: str, lifetime_s: int = 240) -> str:
    """A one-time client assertion JWT (SMART 2.2 "Authenticating with private_key_jwt"):
    iss = sub = client_id, aud = the token endpoint, exp ≤ 5 minutes, unique jti."""
    key = load_key(home)
    now = int(time.time())
    header = {"alg": ALG, "typ": "JWT", "kid": key.kid or key.thumbprint()}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "iat": now,
        "exp": now + lifetime_s,
        "jti": secrets.token_urlsafe(24),
    }
    return jwt.encode(header, claims, key, algorithms=[ALG])


def _token_key(home: Path) -> OctKey:
    path = Path(home) / SEAL_KEY_FILE
    with _lock:
        _create_once(path, secrets.token_urlsafe(32))
        return OctKey.import_key(hashlib.sha256(path.read_bytes().strip()).digest())


def seal(home: Path, value: str | None) -> str | None:
    """Tokens at rest are AES-256-GCM encrypted (JWE ``dir``) with a per-instance key, so a copy of
    the database alone does not open the EHR."""
    if value is None:
        return None
    return jwe.encrypt_compact(_SEAL, value.encode(), _token_key(home), algorithms=list(_SEAL.values()))


def unseal(home: Path, value: str | None) -> str | None:
    if value is None:
        return None
    return jwe.decrypt_compact(value, _token_key(home), algorithms=list(_SEAL.values())).plaintext.decode()
