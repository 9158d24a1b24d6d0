"""painpa's own signing key for SMART confidential-asymmetric client authentication
(SMART App Launch 2.2 ``client-confidential-asymmetric``, RFC 7523 ``private_key_jwt``; standards.md §5.2).

The key is generated into ``PAINPA_HOME`` on first use (mode 0600, never committed); only its public
half is ever served, at ``/.well-known/jwks.json``. ES384 is one of the two algorithms SMART servers
SHALL accept (ES384, RS384).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import ECKey

ALG = "ES384"
KEY_FILE = "smart_client_key.json"
_lock = threading.Lock()
_cache: dict[Path, ECKey] = {}


def load_key(home: Path) -> ECKey:
    """Return the instance key, creating it atomically on first use."""
    path = Path(home) / KEY_FILE
    with _lock:
        if path in _cache:
            return _cache[path]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = ECKey.generate_key("P-384", private=True)
            data = key.as_dict(private=True)
            data["kid"] = key.thumbprint()
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)
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
