"""Gold-card readiness (CMS WISeR exemption, guide v6.0 §5; domain.md §0): per clinician and
program, the affirmation rate of prior-authorization decisions over a rolling window, against a
threshold. CMS requires at least 10 requests but has NOT published the threshold or the period
length: both are configurable placeholders, flagged UNCONFIRMED wherever they are shown.

``readiness`` is pure; ``load_pa_decisions`` reads the store.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from cds_service.denials.rules import GoldCardConfig
from cds_service.denials.tables import Decision
from cds_service.store.base import Database


@dataclass(frozen=True)
class PaDecision:
    clinician: str
    clinician_label: str
    program: str
    decided: date
    outcome: str


@dataclass(frozen=True)
class Readiness:
    clinician: str
    clinician_label: str
    program: str
    requests: int
    affirmed: int
    rate: float | None
    status: str                 # ready | below-threshold | too-few-requests
    needed: int                 # more affirmed requests (in a row) to reach the threshold / minimum
    message: str


def _needed(affirmed: int, total: int, threshold: float) -> int:
    """Smallest k with (affirmed + k) / (total + k) >= threshold (ignoring roll-off of old ones)."""
    if total and affirmed / total >= threshold:
        return 0
    if threshold >= 1:
        return 0 if affirmed == total else -1
    return max(0, math.ceil((threshold * total - affirmed) / (1 - threshold) - 1e-9))


def readiness(decisions: list[PaDecision], config: GoldCardConfig, *, today: date,
              threshold: float | None = None, window_days: int | None = None) -> list[Readiness]:
    threshold = config.threshold if threshold is None else threshold
    window_days = config.window_days if window_days is None else window_days
    start = today - timedelta(days=window_days)
    groups: dict[tuple[str, str], list[PaDecision]] = defaultdict(list)
    for d in decisions:
        if start < d.decided <= today and d.outcome != "pended":
            if d.outcome == "partial" and config.count_partial_as == "excluded":
                continue
            groups[(d.clinician, d.program)].append(d)
    out = []
    for (clinician, program), rows in groups.items():
        total = len(rows)
        affirmed = sum(1 for d in rows if d.outcome == "affirmed"
                       or (d.outcome == "partial" and config.count_partial_as == "affirmed"))
        rate = affirmed / total if total else None
        label = next((d.clinician_label for d in rows if d.clinician_label), clinician)
        more = _needed(affirmed, total, threshold)
        if total < config.min_requests:
            status = "too-few-requests"
            need = config.min_requests - total
            msg = f"{total} of the {config.min_requests} requests needed in the window"
        elif rate is not None and rate >= threshold:
            status, need = "ready", 0
            msg = f"{rate:.0%} affirmed meets the {threshold:.0%} threshold"
        else:
            status, need = "below-threshold", more
            msg = (f"{rate:.0%} affirmed, below {threshold:.0%}: about {more} more affirmed requests in a row needed"
                   if more >= 0 else f"{rate:.0%} affirmed; a 100% threshold cannot be reached in this window")
        out.append(Readiness(clinician, label, program, total, affirmed, rate, status, need, msg))
    order = {"ready": 0, "below-threshold": 1, "too-few-requests": 2}
    return sorted(out, key=lambda r: (order[r.status], -(r.rate or 0), r.clinician_label))


def load_pa_decisions(db: Database, since: date) -> list[PaDecision]:
    q = (select(Decision.clinician, Decision.clinician_label, Decision.program, Decision.payer_label,
                Decision.plan_label, Decision.decided, Decision.outcome)
         .where(Decision.kind == "prior-auth", Decision.decided > since, Decision.clinician != ""))
    with db.session() as s:
        return [PaDecision(c, cl or c, prog or (f"{payer} / {plan}" if plan else payer), decided, outcome)
                for c, cl, prog, payer, plan, decided, outcome in s.execute(q)]
