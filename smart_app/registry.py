"""Which EHRs may launch the app: the client registry of ``painpa clients add … --fhir-base URL
--smart-client-id ID`` (ARCHITECTURE.md; standards.md §8.3, §8.4).

An ``iss`` is accepted only when it equals a FHIR base registered for a client that has a SMART
client id (after normalisation: scheme and host lower-cased, no trailing slash); the check happens
before any outbound request. The same list bounds the PAS endpoints the app may call and the
origins allowed to frame it (CSP ``frame-ancestors``).

A client secret (for EHRs that require ``client_secret_basic``) is kept outside the database, in
``PAINPA_HOME/smart_client_secrets.json`` (``{"<iss>": "<secret>"}``, mode 0600).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cds_service.clients import list_clients, normalize_base
from cds_service.store.base import Database

SECRETS_FILE = "smart_client_secrets.json"


@dataclass(frozen=True)
class SmartClient:
    iss: str
    client_id: str
    client_secret: str | None = None
    tenant: str | None = None


def _secret(home: Path | None, iss: str) -> str | None:
    if home is None:
        return None
    path = Path(home) / SECRETS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    value = data.get(iss) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def smart_client_for(db: Database, iss: str, home: Path | None = None) -> SmartClient | None:
    target = normalize_base(iss, strict=False)
    if target is None:
        return None
    for info in list_clients(db):
        if info.smart_client_id and target in info.fhir_bases:
            return SmartClient(iss=target, client_id=info.smart_client_id,
                               client_secret=_secret(home, target), tenant=info.tenant)
    return None


def registered_bases(db: Database) -> set[str]:
    return {b for info in list_clients(db) for b in info.fhir_bases}


def is_registered_base(db: Database, url: str) -> bool:
    target = normalize_base(url, strict=False)
    return target is not None and target in registered_bases(db)


def registered_origins(db: Database) -> list[str]:
    """Origins of every registered FHIR base: the EHRs that may host the app in an iframe."""
    origins: list[str] = []
    for base in sorted(registered_bases(db)):
        parts = urlsplit(base)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in origins:
            origins.append(origin)
    return origins
