"""The sandbox EHR's own signing key: ES384 (CDS Hooks 2.0 §"Trusting CDS Clients" recommends
ES384/RS384). Generated on first start into PAINPA_HOME (mode 0600), never shipped; its public JWK
Set is what the CDS service is registered with, and what ``/ehr/.well-known/jwks.json`` serves.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from joserfc.jwk import ECKey

KEY_FILE = "sandbox-ehr-key.json"


def load_or_create(home: Path) -> ECKey:
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        key = ECKey.generate_key("P-384", parameters={"kid": f"sbx-{secrets.token_hex(6)}", "alg": "ES384",
                                                       "use": "sig"}, private=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(key.as_dict(private=True), fh)
    return ECKey.import_key(json.loads(path.read_text()))


def public_jwks(key: ECKey) -> dict:
    return {"keys": [key.as_dict(private=False)]}
