"""One calendar date for "today" across painpa: the UTC date.

The CDS service evaluates orders against the UTC date; the SMART worklist, the CPM page, the prior-
authorization packet and the sandbox EHR must use the same date, or a physician near midnight sees a
card and a worklist that disagree (a 4-week window met in one and not the other). Everything that
needs "today" calls :func:`today_utc`; nothing reads the server's local date (``date.today()``).
The pure policy core never reads the clock: it takes ``today`` as a parameter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def now_utc() -> datetime:
    """The current instant, timezone-aware UTC (the one place painpa reads the wall clock for dates)."""
    return datetime.now(UTC)


def today_utc() -> date:
    """Today's date in UTC, whatever the server's TZ."""
    return now_utc().date()
