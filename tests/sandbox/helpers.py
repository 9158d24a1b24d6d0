"""Helpers for the SMART flows: PKCE pairs, client keys, client assertions (test keys only)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import ECKey


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def new_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": uuid.uuid4().hex[:8], "alg": "ES384"}, private=True)


def assertion(key: ECKey, client_id: str, aud: str, *, exp_in: int = 120, jti: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + exp_in, "iat": now,
              "jti": jti or uuid.uuid4().hex}
    return jwt.encode({"alg": "ES384", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["ES384"])


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


PAS_SCOPES = "system/Claim.cr system/ClaimResponse.rs system/Bundle.r system/Subscription.crd"


def client_credentials(key: ECKey, client_id: str, token_endpoint: str, scope: str = PAS_SCOPES) -> dict:
    """The form of a SMART Backend Services token request (backend-services.md §"Obtain access token"):
    client_credentials with a ``private_key_jwt`` assertion; POST it to ``token_endpoint``."""
    return {"grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(key, client_id, token_endpoint)}
