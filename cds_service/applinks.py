"""Opaque ``appContext`` handles for SMART links (CDS Hooks 2.0 §Link; DTR FHIR-37270 "no access
token in appContext"; standards.md §1.11, §8.11).

A card's SMART link carries ``{"ctx": "<handle>"}``. The handle is 128+ random bits, short-lived and
single-use; what it stands for (patient id, order references, hookInstance, fhirServer, iss) stays
in the database. The payload must never hold a token: :func:`issue` refuses one.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update

from cds_service.store.base import Database
from cds_service.store.tables import AppLink

DEFAULT_TTL_S = 3600
FORBIDDEN_KEYS = frozenset({"access_token", "fhirAuthorization", "token", "id_token", "refresh_token", "jwt"})


def issue(db: Database, payload: dict, ttl_s: int = DEFAULT_TTL_S) -> str:
    """Store ``payload`` behind a new opaque handle valid for ``ttl_s`` seconds."""
    bad = FORBIDDEN_KEYS.intersection(payload)
    if bad:
        raise ValueError(f"appContext payload must not carry credentials ({', '.join(sorted(bad))})")
    handle = secrets.token_urlsafe(24)  # 192 bits
    with db.session() as s:
        s.add(AppLink(handle=handle, payload=payload, expires=datetime.now(UTC) + timedelta(seconds=ttl_s)))
    return handle


def redeem(db: Database, handle: str) -> dict | None:
    """The payload behind ``handle`` the first time it is redeemed before expiry; else None.

    The conditional UPDATE makes redemption atomic: two concurrent launches cannot both win."""
    if not isinstance(handle, str) or not 16 <= len(handle) <= 64:
        return None
    now = datetime.now(UTC)
    with db.session() as s:
        result = s.execute(
            update(AppLink)
            .where(AppLink.handle == handle, AppLink.redeemed.is_(None), AppLink.expires > now)
            .values(redeemed=now)
        )
        if result.rowcount != 1:
            return None
        row = s.get(AppLink, handle)
        return dict(row.payload) if row else None


def purge(db: Database, now: datetime | None = None) -> int:
    """Delete expired or redeemed handles."""
    now = now or datetime.now(UTC)
    with db.session() as s:
        res = s.execute(delete(AppLink).where((AppLink.expires < now) | AppLink.redeemed.is_not(None)))
        return res.rowcount or 0
