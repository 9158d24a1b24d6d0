"""Per-client rate limit (standards.md §8.15 resource limits; check CC-54's neighbour "clear
errors"): a fixed window of ``rate_limit_per_minute`` calls per registered ``iss``, counted in the
shared database (or Redis when ``PAINPA_REDIS_URL`` is set) so that every worker and host sees the
same count. Over the limit :func:`check` raises :class:`RateLimited`, which the HTTP layer answers
with 429, ``Retry-After`` and an OperationOutcome of code ``throttled`` (cds_service/http_errors.py).

It runs after the JWT is verified: counting by an unverified ``iss`` would let anyone spend a
registered client's budget. With Redis down the count goes on in the database (a new count for the
rest of that minute); only when the database cannot count either does the check fail open (logged),
and then the call's own jti and audit writes answer 503 anyway.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete

from cds_service.security.tables import RateCounter
from cds_service.shared.cache import CacheUnavailable
from cds_service.store.base import Database, conflict_insert

WINDOW_S = 60
PURGE_PROBABILITY = 0.01
COUNTERS = RateCounter.__table__
log = logging.getLogger(__name__)


def counter_key(value: str, window: int, prefix: str = "") -> str:
    """The counter's key for ``value`` (hashed: no client or user name in the table) in ``window``."""
    return f"{prefix}{hashlib.sha256(value.encode()).hexdigest()[:40]}:{window}"


def fixed_window(now: float, width_s: int) -> tuple[int, datetime, float]:
    """(index, expires, seconds left) of the fixed window of ``width_s`` seconds that holds ``now``;
    a counter of that window may be purged once ``expires`` has passed (one window of slack)."""
    index = int(now // width_s)
    return index, datetime.fromtimestamp((index + 2) * width_s, UTC) + timedelta(seconds=1), (index + 1) * width_s - now


@functools.cache
def _upsert(dialect: str):
    """The counter upsert for this SQL dialect, built once per process: it runs on every hook call,
    and the conflict clause keeps the increment atomic across workers without a read first."""
    stmt = conflict_insert(dialect)(COUNTERS).values(key=bindparam("key"), count=1, expires=bindparam("expires"))
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"count": COUNTERS.c.count + 1})
    return stmt.returning(COUNTERS.c.count)


def count_in_db(db: Database, key: str, expires: datetime) -> int:
    """Add one to the counter ``key`` (created to expire at ``expires``) and return its new value;
    shared by every worker and host on the database (also the dashboard's sign-in throttle)."""
    # Core, not the ORM session (Database.begin): one statement, no object to track.
    with db.begin() as conn:
        count = conn.execute(_upsert(db.engine.dialect.name), {"key": key, "expires": expires}).scalar_one()
    if random.random() < PURGE_PROBABILITY:
        with db.begin() as conn:
            conn.execute(delete(COUNTERS).where(COUNTERS.c.expires < datetime.now(UTC)))
    return int(count)


def hit(db: Database, iss: str, *, shared_cache=None, now: float | None = None) -> tuple[int, float]:
    """Count one call of ``iss``; returns (calls in this window, seconds until the window ends)."""
    window, expires, retry = fixed_window(time.time() if now is None else now, WINDOW_S)
    key = counter_key(iss, window)
    if shared_cache is not None:
        # Redis, behind the shared cache's circuit breaker: while Redis is down a call costs no
        # connect timeout (it would be spent holding the worker's CPU slot, cds_service/cpu.py).
        try:
            return shared_cache.incr("rate", key, WINDOW_S * 2), retry
        except CacheUnavailable as exc:
            log.warning("rate limit: Redis unavailable (%s); counting in the database", exc)
    return count_in_db(db, key, expires), retry


class RateLimited(Exception):
    """A client spent its budget of ``limit`` calls per minute; the window ends in ``retry_after_s``."""

    def __init__(self, limit: int, retry_after_s: float) -> None:
        super().__init__(f"Rate limit of {limit} calls per minute for this client exceeded; "
                         f"retry after {math.ceil(retry_after_s)} s")
        self.retry_after_s = retry_after_s


def check(db: Database, settings, iss: str, *, shared_cache=None) -> None:
    """Count the call; raise :class:`RateLimited` when ``iss`` is over its budget."""
    limit = settings.rate_limit_per_minute
    if limit <= 0:
        return
    try:
        count, retry = hit(db, iss, shared_cache=shared_cache)
    except Exception as exc:  # noqa: BLE001 - fail open, loudly
        log.warning("rate limit not checked: %s", type(exc).__name__)
        return
    if count > limit:
        raise RateLimited(limit, retry)
