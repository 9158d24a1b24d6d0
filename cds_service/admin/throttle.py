"""Throttling of dashboard sign-ins against password guessing: OWASP Authentication Cheat Sheet,
"Protect against automated attacks" (login throttling, not an account lockout anyone can trigger),
and NIST SP 800-63B §5.2.2 "Rate Limiting (Throttling)" (consecutive failed attempts per account
SHALL be capped at no more than 100).

Three budgets per fixed window (``PAINPA_LOGIN_WINDOW_S``, default 15 minutes), counted in the
``sec_rate_counters`` table through the atomic upsert of :mod:`cds_service.security.ratelimit`, so
every gunicorn worker and host on one database sees the same count and a restart forgets nothing:

- per (user name, address) pair, ``PAINPA_LOGIN_MAX_FAILURES`` (default 5): the strict budget of
  one client guessing one account. User names are normalised (``Admin`` and ``admin `` share one),
  after being cut to :data:`MAX_USERNAME_CHARS` so that NFKC never runs on a huge input;
- per address, ``PAINPA_LOGIN_MAX_FAILURES_PER_ADDRESS`` (default 20): one client guessing many names;
- per user name across all addresses, ``PAINPA_LOGIN_MAX_FAILURES_PER_USER`` (default 100, NIST's
  cap): the ceiling on guesses against one account from anywhere.

The budgets are checked, and counted, in that order: address, pair, user. Each increment is atomic
and returns the new count, so parallel guesses cannot all slip under a limit; and a later counter is
incremented only when the earlier ones allowed the attempt. So an attempt refused for its address or
its pair costs the named user nothing: one address can put at most ``PAINPA_LOGIN_MAX_FAILURES``
failures per window on a user name, and holding an account at its ceiling (so that its owner gets
429 from everywhere) takes ``ceiling / per-pair budget`` addresses (20 by default) every window. That
is the one denial of service left, bounded as NIST allows. A shared address (NAT, or a reverse proxy
when ``PAINPA_LOGIN_PROXY_HOPS`` is not set) shares its budgets, so a guesser behind the admin's own
NAT does pause the admin for the rest of the window; a fixed window lets up to twice a budget through
around a boundary. Both are accepted trade-offs, on purpose.

An attempt is counted *before* the password is checked. Over a budget the answer is 429 with
``Retry-After`` (the end of the window) and the scrypt check is not run at all: that is what keeps a
guessing client from spending the CPU the hook service needs. The answer is the same whether or not
the user name exists. A right password clears its pair's count and gives the attempt back to the
address and the user name; it does not wipe the user name's count, or a guesser spread over many
addresses would get a fresh 100 every time the admin signs in.

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
from datetime import UTC, datetime

from sqlalchemy import delete, update

from cds_service.security.ratelimit import COUNTERS, count_in_db, counter_key, fixed_window
from cds_service.store.base import Database

# Longer than any user name can be (auth.USERNAME_RE: 64); a longer one is cut before NFKC and can
# only fail.
MAX_USERNAME_CHARS = 256
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt as counted: ``allowed`` is False when a budget is spent."""

    user_key: str
    pair_key: str
    address_key: str
    allowed: bool
    retry_after_s: int
    user_tag: str
    address_tag: str


def too_long(username: str) -> bool:
    return len(username or "") > MAX_USERNAME_CHARS


def normalise(username: str) -> str:
    return unicodedata.normalize("NFKC", (username or "")[:MAX_USERNAME_CHARS]).strip().casefold()


def client_address(remote_addr: str | None, forwarded_for: str | None, proxy_hops: int) -> str:
    """The client's address. Behind ``proxy_hops`` trusted proxies, each appended the address it saw
    to X-Forwarded-For, so the client is that many entries from the right; anything further left
    was written by the client and is not trusted (werkzeug ProxyFix reads it the same way)."""
    if proxy_hops > 0 and forwarded_for:
        hops = [h.strip() for h in forwarded_for.split(",")]
        if len(hops) >= proxy_hops and hops[-proxy_hops]:
            return hops[-proxy_hops]
    return remote_addr or "unknown"


def _tag(salt: str, value: str) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:12]


def attempt(db: Database, settings, username: str, address: str, *, salt: str, now: float) -> Attempt:
    """Count one attempt against the address's, the (user name, address) pair's and the user name's
    budgets of this window, in that order, stopping at the first one spent (module docstring)."""
    window, expires, left = fixed_window(now, settings.login_window_s)
    name = normalise(username)
    # Length-prefixed, so no (name, address) pair can be spelt like another.
    keys = (counter_key(address, window, "login:addr:"),
            counter_key(f"{len(name)}:{name}|{address}", window, "login:pair:"),
            counter_key(name, window, "login:user:"))
    budgets = (("address", settings.login_max_failures_per_address),
               ("user name from this address", settings.login_max_failures),
               ("user name from all addresses", settings.login_max_failures_per_user))
    spent = None
    for key, (budget, limit) in zip(keys, budgets, strict=True):
        count = count_in_db(db, key, expires)
        if count > limit:
            spent = (budget, count, limit)
            break
    result = Attempt(keys[2], keys[1], keys[0], spent is None, max(1, math.ceil(left)),
                     _tag(salt, name), _tag(salt, address))
    if spent is not None:
        log.warning("admin sign-in throttled: user#%s from#%s, budget per %s spent (attempt %d this window, "
                    "limit %d); retry after %d s", result.user_tag, result.address_tag, *spent,
                    result.retry_after_s)
    return result


def failed(a: Attempt) -> None:
    log.info("admin sign-in failed: user#%s from#%s", a.user_tag, a.address_tag)


def succeeded(db: Database, a: Attempt) -> None:
    """A right password clears the pair's failures and gives this attempt back to the address and
    the user name (not more: the user name's count bounds guesses from every address)."""
    with db.begin() as conn:
        conn.execute(delete(COUNTERS).where(COUNTERS.c.key == a.pair_key))
        conn.execute(update(COUNTERS).where(COUNTERS.c.key.in_((a.user_key, a.address_key)), COUNTERS.c.count > 0)
                     .values(count=COUNTERS.c.count - 1))


def wait_message(retry_after_s: int, now: float) -> str:
    minutes = max(1, math.ceil(retry_after_s / 60))
    span = (f"{minutes} minute{'' if minutes == 1 else 's'}" if minutes < 120
            else f"about {round(minutes / 60)} hours")
    at = datetime.fromtimestamp(now + retry_after_s, UTC).strftime("%H:%M")
    return f"Too many failed sign-in attempts. Sign-in is paused for {span}: try again after {at} UTC."
