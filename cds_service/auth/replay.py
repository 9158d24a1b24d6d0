"""``jti`` replay protection (CDS Hooks best practices: "jti has not been seen"; standards.md §8.6).

Seen ids live in the database with a unique (iss, jti) constraint, so that replay detection holds
across gunicorn workers and hosts sharing one PostgreSQL. Rows are kept until the token could no
longer pass the ``exp`` check, then purged opportunistically.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from cds_service.store.base import Database
from cds_service.store.tables import SeenJti

PURGE_PROBABILITY = 0.02
_SEEN = SeenJti.__table__
_INSERT = insert(_SEEN)  # built once: it runs on every hook call


def first_use(db: Database, iss: str, jti: str, exp: int, leeway_s: int) -> bool:
    """Record ``jti`` for ``iss``; False when it was already recorded (a replay). Always in the
    database, also when Redis is configured: a cache forgets on restart and cannot answer while it
    is down, and a replay must be refused for the token's whole lifetime (docs/security.md §2.1)."""
    expires = datetime.fromtimestamp(exp, UTC) + timedelta(seconds=leeway_s)
    try:
        # Core insert (Database.begin): this runs on every hook call; the unique (iss, jti)
        # constraint, not a prior select, is what makes the check atomic across workers.
        with db.begin() as conn:
            conn.execute(_INSERT, {"iss": iss, "jti": jti, "expires": expires})
    except IntegrityError:
        return False
    if random.random() < PURGE_PROBABILITY:
        purge_expired(db)
    return True


def purge_expired(db: Database, now: datetime | None = None) -> int:
    with db.begin() as conn:
        result = conn.execute(delete(_SEEN).where(_SEEN.c.expires < (now or datetime.now(UTC))))
        return result.rowcount or 0
