"""Retention of transient data (CRD security.md: "SHALL NOT retain [received data] except for audit
or DTR context"; standards.md §8.10).

``painpa audit purge`` (run daily from cron; see docs/security.md) deletes audit rows past
``PAINPA_AUDIT_RETENTION_DAYS`` and, through :func:`purge_transient`, everything that only had to
live for minutes: expired or redeemed appContext handles (their payload names the patient), ``jti``
records past their token's lifetime, finished rate-limit windows, and chart writes older than the
warm cache's entries (cds_service/fhir/warm.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from cds_service import applinks
from cds_service.auth.replay import purge_expired
from cds_service.fhir.warm import CACHE_TTL_S
from cds_service.security.tables import RateCounter
from cds_service.store.base import Database
from cds_service.store.tables import ChartWrite


def purge_transient(db: Database, now: datetime | None = None) -> dict[str, int]:
    now = now or datetime.now(UTC)
    with db.session() as s:
        windows = s.execute(delete(RateCounter).where(RateCounter.expires < now)).rowcount or 0
        # A write older than any warm entry can still be (CACHE_TTL_S) makes none out of date.
        writes = s.execute(delete(ChartWrite).where(
            ChartWrite.written < now - timedelta(seconds=2 * CACHE_TTL_S))).rowcount or 0
    return {"app_links": applinks.purge(db, now), "jti": purge_expired(db, now), "rate_windows": windows,
            "chart_writes": writes}
