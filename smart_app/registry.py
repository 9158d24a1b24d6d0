"""Which EHRs may launch the app: the client registry of ``painpa clients add … --fhir-base URL
--smart-client-id ID`` (ARCHITECTURE.md; standards.md §8.3, §8.4).

An ``iss`` is accepted only when it equals a FHIR base registered for a client that has a SMART
client id (after normalisation: scheme and host lower-cased, no trailing slash); the check happens
before any outbound request. The same list bounds the PAS endpoints the app may call and the
origins allowed to frame it (CSP ``frame-ancestors``).

A client secret (for EHRs that require ``client_secret_basic``; SMART App Launch 2.2
``client-confidential-symmetric``) is set with ``painpa clients set-smart-secret --fhir-base URL``
and kept in the database, sealed (JWE ``dir`` + A256GCM, the FHIR base in the authenticated header)
with a key derived from ``PAINPA_SECRET_KEY``: every instance reads it, nothing in ``PAINPA_HOME``
needs copying, and a reader of the table without the secret key learns nothing. A
``PAINPA_HOME/smart_client_secrets.json`` left by the previous release is still read when the
database has no secret for that base.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cds_service.clients import list_clients, normalize_base
from cds_service.config import Settings, secret_key
from cds_service.store.base import Database
from smart_app import keys
from smart_app.discovery import LaunchError
from smart_app.tables import SmartClientSecret

SECRETS_FILE = "smart_client_secrets.json"   # the previous release's place; read, never written
_PURPOSE = b"painpa smart client secrets v1"


class SecretUnreadable(LaunchError):
    """The stored client secret does not open with this instance's secret key (or belongs elsewhere)."""

    def __init__(self, base: str) -> None:
        super().__init__(f"painpa cannot open the client secret stored for {base}: it was stored by an instance "
                         "with another PAINPA_SECRET_KEY. Give every instance the same PAINPA_SECRET_KEY, or set "
                         "the secret again with painpa clients set-smart-secret.", 503)


@dataclass(frozen=True)
class SmartClient:
    iss: str
    client_id: str
    client_secret: str | None = None
    tenant: str | None = None


def store_secret(db: Database, settings: Settings, fhir_base: str, secret: str | None) -> str:
    """Seal and store (or with ``None`` remove) the client secret for ``fhir_base``; returns the base."""
    base = normalize_base(fhir_base)
    with db.session() as s:
        row = s.get(SmartClientSecret, base)
        if secret is None:
            if row is not None:
                s.delete(row)
            return base
        sealed = keys.bind(keys.wrapping_key(secret_key(settings), _PURPOSE), base, secret.encode())
        now = datetime.now(UTC).replace(tzinfo=None)
        if row is None:
            s.add(SmartClientSecret(fhir_base=base, sealed=sealed, updated=now))
        else:
            row.sealed, row.updated = sealed, now
    return base


def _stored_secret(db: Database, settings: Settings, base: str) -> str | None:
    with db.session() as s:
        row = s.get(SmartClientSecret, base)
        sealed = row.sealed if row is not None else None
    if sealed is None:
        return None
    # None: another PAINPA_SECRET_KEY, or a row's ciphertext copied to another base
    plaintext = keys.unbind(keys.wrapping_key(secret_key(settings), _PURPOSE), base, sealed)
    if plaintext is None:
        raise SecretUnreadable(base)
    return plaintext.decode()


def _file_secret(home: Path | None, iss: str) -> str | None:
    if home is None:
        return None
    try:
        data = json.loads((Path(home) / SECRETS_FILE).read_text())
    except (OSError, ValueError):
        return None
    value = data.get(iss) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def smart_client_for(db: Database, iss: str, settings: Settings) -> SmartClient | None:
    target = normalize_base(iss, strict=False)
    if target is None:
        return None
    for info in list_clients(db):
        if info.smart_client_id and target in info.fhir_bases:
            secret = _stored_secret(db, settings, target) or _file_secret(settings.home, target)
            return SmartClient(iss=target, client_id=info.smart_client_id, client_secret=secret, tenant=info.tenant)
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
