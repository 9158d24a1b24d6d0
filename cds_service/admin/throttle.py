"""Throttling of dashboard sign-ins against password guessing: OWASP Authentication Cheat Sheet,
"Protect against automated attacks" (login throttling rather than permanent lockout), and NIST SP
800-63B §5.2.2 "Rate Limiting (Throttling)": consecutive failed attempts per account capped (SHALL
be no more than 100; the default here is 5 per 15 minutes, ``PAINPA_LOGIN_MAX_FAILURES`` /
``PAINPA_LOGIN_WINDOW_S``, at most 100 by configuration).

Two budgets per fixed window: failures per user name (normalised, so ``Admin`` and ``admin `` share
one) and failures per client address (one address guessing many names). Counted in the
``sec_rate_counters`` table through the atomic upsert of :mod:`cds_service.security.ratelimit`, so
every gunicorn worker and host on one database sees the same count and a restart forgets nothing.

An attempt is counted *before* the password is checked (the increment is atomic, so parallel
guesses cannot all slip through under the limit) and given back on success. Over either budget the
answer is 429 with ``Retry-After`` and the scrypt check is not run at all: that is what keeps a
guessing client from spending the CPU the hook service needs. The answer is the same whether or not
the user name exists. Trade-offs, on purpose: a fixed window lets up to twice the budget through
around a window boundary; a shared address (NAT, or a reverse proxy when ``PAINPA_LOGIN_PROXY_HOPS``
is not set) shares one budget; and anyone can hold a known user name's budget spent, which delays
that admin by at most one window but never locks the account (OWASP: lockout is a denial of service).

Logs name no password and no raw address: user name and address appear as keyed hashes, enough to
see that one account or one client is being guessed at.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update

from cds_service.security.ratelimit import COUNTERS, count_in_db
from cds_service.store.base import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt as counted: ``allowed`` is False when a budget is spent."""

    user_key: str
    address_key: str
    allowed: bool
    retry_after_s: int
    user_tag: str
    address_tag: str


def normalise(username: str) -> str:
    return unicodedata.normalize("NFKC", username or "").strip().casefold()


def client_address(remote_addr: str | None, forwarded_for: str | None, proxy_hops: int) -> str:
    """The client's address. Behind ``proxy_hops`` trusted proxies, each appended the address it saw
    to X-Forwarded-For, so the client is that many entries from the right; anything further left
    was written by the client and is not trusted (werkzeug ProxyFix reads it the same way)."""
    if proxy_hops > 0 and forwarded_for:
        hops = [h.strip() for h in forwarded_for.split(",")]
        if len(hops) >= proxy_hops and hops[-proxy_hops]:
            return hops[-proxy_hops]
    return remote_addr or "unknown"


def _key(kind: str, value: str, window: int) -> str:
    return f"login:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}:{window}"


def _tag(salt: str, value: str) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:12]


def attempt(db: Database, settings, username: str, address: str, *, salt: str, now: float) -> Attempt:
    """Count one attempt against the user name's and the address's budgets of this window."""
    width = settings.login_window_s
    window = int(now // width)
    expires = datetime.fromtimestamp((window + 2) * width, UTC) + timedelta(seconds=1)
    name = normalise(username)
    user_key, address_key = _key("user", name, window), _key("addr", address, window)
    failures_user = count_in_db(db, user_key, expires)
    failures_address = count_in_db(db, address_key, expires)
    allowed = (failures_user <= settings.login_max_failures
               and failures_address <= settings.login_max_failures_per_address)
    result = Attempt(user_key, address_key, allowed, max(1, math.ceil((window + 1) * width - now)),
                     _tag(salt, name), _tag(salt, address))
    if not allowed:
        log.warning("admin sign-in throttled: user#%s from#%s, attempts this window %d by name (limit %d), "
                    "%d from address (limit %d); retry after %d s", result.user_tag, result.address_tag,
                    failures_user, settings.login_max_failures, failures_address,
                    settings.login_max_failures_per_address, result.retry_after_s)
    return result


def failed(a: Attempt) -> None:
    log.info("admin sign-in failed: user#%s from#%s", a.user_tag, a.address_tag)


def succeeded(db: Database, a: Attempt) -> None:
    """A right password clears the name's failures and gives the address back this attempt."""
    with db.begin() as conn:
        conn.execute(delete(COUNTERS).where(COUNTERS.c.key == a.user_key))
        conn.execute(update(COUNTERS).where(COUNTERS.c.key == a.address_key, COUNTERS.c.count > 0)
                     .values(count=COUNTERS.c.count - 1))


def wait_message(retry_after_s: int, now: float) -> str:
    minutes = max(1, math.ceil(retry_after_s / 60))
    span = (f"{minutes} minute{'' if minutes == 1 else 's'}" if minutes < 120
            else f"about {round(minutes / 60)} hours")
    at = datetime.fromtimestamp(now + retry_after_s, UTC).strftime("%H:%M")
    return f"Too many failed sign-in attempts. Sign-in is paused for {span}: try again after {at} UTC."
