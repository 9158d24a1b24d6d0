"""Denial evidence for a new order's cards: what the same payer and plan decided on the last N
orders of the same service group, and for which requirement (CMS-0057-F specific denial reasons,
domain.md §3, fed back into the CRD cards of standards.md §2.4).

Pure: the readiness assessment (cds_service/readiness.py) loads the decisions through
:func:`cds_service.denials.feed.evidence_for` and passes a ``DenialEvidence`` per order to
:func:`apply_evidence`; the policy engine stays free of the database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

DENIED = ("denied", "partial")


@dataclass(frozen=True)
class PastDecision:
    decided: date
    outcome: str
    requirements: tuple[str, ...]   # the requirements its reasons were mapped to (may be empty)


@dataclass(frozen=True)
class RequirementCount:
    requirement: str
    count: int
    phrase: str


@dataclass(frozen=True)
class DenialEvidence:
    payer: str
    plan: str
    group_label: str                # "lumbar ESIs"
    considered: int                 # decisions looked at (at most the window)
    denied: int
    by_requirement: tuple[RequirementCount, ...]
    first: date | None = None
    last: date | None = None

    def count_for(self, requirement: str) -> RequirementCount | None:
        return next((c for c in self.by_requirement if c.requirement == requirement), None)

    def sentence(self, requirement: str | None = None) -> str:
        """E.g. "This plan (Gold PPO) denied 4 of its last 10 lumbar ESIs for missing PT duration"."""
        who = f"This plan ({self.plan})" if self.plan else f"This payer ({self.payer})"
        if requirement is not None:
            c = self.count_for(requirement)
            if c is None:
                return ""
            return f"{who} denied {c.count} of its last {self.considered} {self.group_label} for {c.phrase}."
        if not self.denied:
            return ""
        top = "; ".join(f"{c.count} for {c.phrase}" for c in self.by_requirement[:3])
        span = f" ({self.first:%b %Y}–{self.last:%b %Y})" if self.first and self.last else ""
        return (f"{who} denied {self.denied} of its last {self.considered} {self.group_label}{span}"
                + (f": {top}." if top else "."))


def summarize(decisions: Iterable[PastDecision], *, window: int, payer: str, plan: str, group_label: str,
              phrases: Mapping[str, str]) -> DenialEvidence:
    """Count, over the newest ``window`` decisions, the denied ones and each requirement they cite
    (a decision counts once per requirement however many reasons name it)."""
    recent = sorted(decisions, key=lambda d: d.decided, reverse=True)[:window]
    counts: Counter[str] = Counter()
    for d in recent:
        if d.outcome in DENIED:
            counts.update(set(d.requirements))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return DenialEvidence(
        payer=payer, plan=plan, group_label=group_label, considered=len(recent),
        denied=sum(1 for d in recent if d.outcome in DENIED),
        by_requirement=tuple(RequirementCount(r, n, phrases.get(r, r)) for r, n in ranked),
        first=min((d.decided for d in recent), default=None), last=max((d.decided for d in recent), default=None),
    )


def apply_evidence(determinations: list, evidence: Mapping[str, DenialEvidence]) -> list:
    """Return the determinations with the plan's denial history added: to the fix of each
    requirement it concerns that is not yet met (the detail stays the card's summary), or, when
    none of them is, once as a note on the determination (the same numbers are not said twice).
    A determination without evidence (or with no denials in the window) is returned unchanged."""
    out = []
    for det in determinations:
        ev = evidence.get(det.order_ref)
        if ev is None or not ev.denied:
            out.append(det)
            continue
        reqs = []
        for req in det.requirements:
            line = ev.sentence(req.id) if str(req.status) != "met" else ""
            reqs.append(replace(req, fix=f"{req.fix} {line}".strip()) if line else req)
        said = any(after is not before for after, before in zip(reqs, det.requirements, strict=True))
        out.append(replace(det, requirements=tuple(reqs), notes=det.notes if said else (*det.notes, ev.sentence())))
    return out
