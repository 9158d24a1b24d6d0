"""Registered CDS clients (CDS Hooks 2.0 §Security "allowlist of iss and jku"; standards.md §8.3–8.4).

A client is an EHR: the ``iss`` of its JWTs, its public keys (a JWKS URL or a JWKS stored at
registration), the FHIR bases it may name as ``fhirServer`` and tenant defaults for the policy.
``fhirServer`` is accepted only under a registered base: that list is the SSRF allowlist, and an
``http://`` base is usable only because an operator registered it explicitly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from joserfc.jwk import KeySet
from sqlalchemy import Row, bindparam, select

from cds_service.policy.record import TenantDefaults
from cds_service.render.versions import UnsupportedVersion, answered_version
from cds_service.security import urls
from cds_service.store.base import Database
from cds_service.store.tables import Client


class ClientError(ValueError):
    """Registration input is invalid; the message says what to fix."""


@dataclass(frozen=True)
class ClientInfo:
    iss: str
    tenant: str | None
    jwks_url: str | None
    jwks: dict | None
    fhir_bases: tuple[str, ...]
    smart_client_id: str | None
    defaults: TenantDefaults
    crd_version: str | None = None      # the CRD version answered when a request names none

    def allows_fhir_server(self, fhir_server: str, *, allow_insecure: bool) -> bool:
        """True when ``fhir_server`` is a registered base or a path beneath one (no prefix tricks)."""
        return self.checked_fhir_server(fhir_server, allow_insecure=allow_insecure) is not None

    def checked_fhir_server(self, fhir_server: str, *, allow_insecure: bool) -> str | None:
        """``fhir_server`` normalised, when it is a registered base or a path beneath one; else None.
        Requests go to this URL, never to the text as sent: what was checked is what is reached."""
        candidate = normalize_base(fhir_server, strict=False)
        if candidate is None:
            return None
        for base in self.fhir_bases:
            if urls.under(candidate, base) is not None:
                return candidate if candidate.startswith("https://") or allow_insecure else None
        return None


def normalize_base(url: str, *, strict: bool = True) -> str | None:
    """``url`` as a FHIR base in its one normal form (:func:`cds_service.security.urls.canonical`,
    trailing slash dropped); refuses credentials, queries, fragments and dot segments, plain or
    percent-encoded (``…/fhir/%2e%2e/admin`` names no base: it would leave one)."""
    text = url.strip() if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
        normal = urls.canonical(text)
    except (ValueError, urls.UrlRefused) as exc:
        if strict:
            raise ClientError(f"{url!r} refused: {exc}") from None
        return None
    if parts.query or parts.fragment or urls.has_dot_segments(parts.path):
        if strict:
            what = "dot segments" if urls.has_dot_segments(parts.path) else "a query or a fragment"
            raise ClientError(f"{url!r} must not contain {what}")
        return None
    return normal.rstrip("/")


def public_jwks(raw: dict) -> dict:
    """Import a JWK Set and keep only the public parts of its asymmetric keys."""
    try:
        keys = KeySet.import_key_set(raw)
    except Exception as exc:  # noqa: BLE001 - joserfc raises several types for bad input
        raise ClientError(f"not a usable JWK Set: {exc}") from None
    public = keys.as_dict(private=False)
    if not public.get("keys") or any(k.get("kty") not in ("EC", "RSA") for k in public["keys"]):
        raise ClientError("the JWK Set must hold EC or RSA public keys only (HMAC keys are refused)")
    return public


def _info(row: Client | Row) -> ClientInfo:
    # An ORM Client and a Core row of _GET_CLIENT expose the same attribute names.
    return ClientInfo(
        iss=row.iss,
        tenant=row.tenant,
        jwks_url=row.jwks_url,
        jwks=row.jwks,
        fhir_bases=tuple(row.fhir_bases or ()),
        smart_client_id=row.smart_client_id,
        defaults=TenantDefaults(state=row.default_state, place_of_service=row.default_pos,
                                windows=tuple(sorted((row.policy_windows or {}).items()))),
        crd_version=row.crd_version,
    )


def add_client(
    db: Database,
    *,
    iss: str,
    fhir_bases: list[str],
    jwks_url: str | None = None,
    jwks: dict | None = None,
    tenant: str | None = None,
    smart_client_id: str | None = None,
    default_state: str | None = None,
    default_pos: str | None = None,
    crd_version: str | None = None,
) -> ClientInfo:
    """Register (or replace) the client with this ``iss``."""
    if not iss or not iss.strip():
        raise ClientError("--iss must not be empty")
    if (jwks_url is None) == (jwks is None):
        raise ClientError("give exactly one of --jwks-url or --jwks-file")
    if jwks_url is not None:
        normalize_base(jwks_url)
    bases = sorted({normalize_base(b) for b in fhir_bases})
    if not bases:
        raise ClientError("give at least one --fhir-base")
    if default_state is not None and (len(default_state) != 2 or not default_state.isalpha()):
        raise ClientError(f"--default-state {default_state!r} must be a two-letter US state code")
    if default_pos is not None and not (default_pos.isdigit() and len(default_pos) == 2):
        raise ClientError(f"--default-pos {default_pos!r} must be a two-digit CMS place-of-service code")
    if crd_version is not None:
        try:
            crd_version = answered_version(crd_version)
        except UnsupportedVersion as exc:
            raise ClientError(f"--crd-version: {exc}") from None
    stored = public_jwks(jwks) if jwks is not None else None
    with db.session() as s:
        row = s.scalar(select(Client).where(Client.iss == iss))
        if row is None:
            row = Client(iss=iss, created=datetime.now(UTC))
            s.add(row)
        row.tenant, row.jwks_url, row.jwks, row.fhir_bases = tenant, jwks_url, stored, bases
        row.smart_client_id = smart_client_id
        row.default_state = default_state.upper() if default_state else None
        row.default_pos = default_pos
        row.crd_version = crd_version
        s.flush()
        return _info(row)


_CLIENTS = Client.__table__
# Built once: every hook call looks its client up, and a prebuilt Core statement skips both the ORM
# session and the per-call statement construction (Database.begin).
_GET_CLIENT = select(*(_CLIENTS.c[name] for name in (
    "iss", "tenant", "jwks_url", "jwks", "fhir_bases", "smart_client_id", "default_state", "default_pos",
    "crd_version", "policy_windows",
))).where(_CLIENTS.c.iss == bindparam("iss"))


MAX_WINDOW_DAYS = 3650


def set_policy_windows(db: Database, iss: str, windows: dict[str, int], known: dict[str, int]) -> ClientInfo:
    """Set (replace) the tenant's values for painpa's own windows; ``known`` maps each settable key to
    painpa's default (cds_service.policy.loader.window_keys). An empty ``windows`` restores the defaults."""
    for key, days in windows.items():
        if key not in known:
            raise ClientError(f"{key!r} is not a window painpa lets a tenant set; one of: {', '.join(sorted(known))}")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_WINDOW_DAYS:
            raise ClientError(f"{key}={days!r} must be a whole number of days between 1 and {MAX_WINDOW_DAYS}")
    with db.session() as s:
        row = s.scalar(select(Client).where(Client.iss == iss))
        if row is None:
            raise ClientError(f"no client registered with iss {iss!r}")
        row.policy_windows = dict(windows) or None
        s.flush()
        return _info(row)


def get_client(db: Database, iss: str) -> ClientInfo | None:
    with db.begin() as conn:
        row = conn.execute(_GET_CLIENT, {"iss": iss}).first()
    return _info(row) if row else None


def list_clients(db: Database) -> list[ClientInfo]:
    with db.session() as s:
        return [_info(r) for r in s.scalars(select(Client).order_by(Client.iss))]


def remove_client(db: Database, iss: str) -> bool:
    with db.session() as s:
        row = s.scalar(select(Client).where(Client.iss == iss))
        if row is None:
            return False
        s.delete(row)
        return True


def client_for_fhir_base(db: Database, fhir_base: str) -> ClientInfo | None:
    """The client that registered ``fhir_base`` (the SMART app finds its EHR by launch ``iss``)."""
    for info in list_clients(db):
        if info.allows_fhir_server(fhir_base, allow_insecure=True):
            return info
    return None


def load_jwks_file(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read JWK Set from {path}: {exc}") from None
