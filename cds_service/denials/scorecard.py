"""Payer scorecard: a payer's public CMS-0057-F prior-authorization metrics (domain.md §3: %
approved, % denied, % approved after appeal, median decision time standard / expedited) beside the
practice's own experience from stored decisions of the same payer (and plan) in the same year.

The practice's "% approved after appeal" is over all its requests, as the public metric is read
here; how CMS defines that denominator is UNCONFIRMED (domain.md §3 lists the metric only).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from sqlalchemy import extract, select

from cds_service.denials.tables import Decision, PayerMetric
from cds_service.store.base import Database

FIELDS = (
    ("pct_approved", "Approved", "%"),
    ("pct_denied", "Denied", "%"),
    ("pct_approved_after_appeal", "Approved after appeal", "%"),
    ("median_hours_standard", "Median decision time, standard", "h"),
    ("median_hours_expedited", "Median decision time, expedited", "h"),
)


@dataclass(frozen=True)
class OwnExperience:
    requests: int
    pct_approved: float | None
    pct_denied: float | None
    pct_approved_after_appeal: float | None
    median_hours_standard: float | None
    median_hours_expedited: float | None


@dataclass(frozen=True)
class ScoreRow:
    payer: str
    plan: str
    year: int
    published: dict
    own: OwnExperience
    source: str

    def deltas(self) -> dict:
        """Own minus published, per metric, where both exist."""
        out = {}
        for name, _, _ in FIELDS:
            a, b = getattr(self.own, name), self.published.get(name)
            out[name] = None if a is None or b is None else round(a - b, 1)
        return out


def own_experience(rows: list[tuple[str, str, bool, float | None]]) -> OwnExperience:
    """``rows``: (outcome, appeal_outcome, expedited, decision_hours) of PA decisions (pended excluded)."""
    decided = [r for r in rows if r[0] != "pended"]
    n = len(decided)

    def pct(k: int) -> float | None:
        return round(100 * k / n, 1) if n else None

    def median(expedited: bool) -> float | None:
        hours = [h for _, _, e, h in decided if e is expedited and h is not None]
        return round(statistics.median(hours), 1) if hours else None

    return OwnExperience(
        requests=n,
        pct_approved=pct(sum(1 for o, *_ in decided if o == "affirmed")),
        pct_denied=pct(sum(1 for o, *_ in decided if o in ("denied", "partial"))),
        pct_approved_after_appeal=pct(sum(1 for o, a, *_ in decided if o != "affirmed" and a == "affirmed")),
        median_hours_standard=median(False), median_hours_expedited=median(True),
    )


def scorecard(db: Database) -> list[ScoreRow]:
    out = []
    with db.session() as s:
        for m in s.scalars(select(PayerMetric).order_by(PayerMetric.payer_label, PayerMetric.plan, PayerMetric.year)):
            q = (select(Decision.outcome, Decision.appeal_outcome, Decision.expedited, Decision.decision_hours)
                 .where(Decision.payer == m.payer, Decision.kind == "prior-auth",
                        extract("year", Decision.decided) == m.year))
            if m.plan:
                q = q.where(Decision.plan == m.plan)
            own = own_experience([tuple(r) for r in s.execute(q)])
            published = {name: getattr(m, name) for name, _, _ in FIELDS}
            out.append(ScoreRow(m.payer_label, m.plan_label, m.year, published, own, m.source))
    return out
