"""The check registry: each requirement in the policy data names a ``check`` and its ``params``; the
function registered under that name decides met / unmet / unknown from the indexed chart.

Status semantics: ``unknown`` only when the resource type the check needs is in
``record.incomplete`` (its query failed) and nothing found so far settles the question; evidence
that was read is evidence even when other pages failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from cds_service.policy.chart import Chart, Item, text_of
from cds_service.policy.loader import PolicySet
from cds_service.policy.model import Evidence, Status
from cds_service.policy.orders import OrderFacts
from cds_service.policy.valuesets import ValueSet


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    evidence: tuple[Evidence, ...] = ()


@dataclass
class Ctx:
    chart: Chart
    facts: OrderFacts
    policies: PolicySet
    order: dict

    @property
    def dos(self) -> date:
        return self.facts.service_date

    def vs(self, vs_id: str) -> ValueSet:
        return self.policies.vs(vs_id)

    def incomplete(self, *rtypes: str) -> bool:
        return self.chart.incomplete(*rtypes)

    def before(self, items: Iterable[Item], days: int | None = None, *, inclusive: bool = True) -> list[Item]:
        """Items dated on/before the date of service (and within ``days`` of it)."""
        dos = self.facts.service_date
        lo = dos - timedelta(days=days) if days is not None else date.min
        out = []
        for item in items:
            when = item.start or item.end
            if when is None:
                continue
            if lo <= when and (when <= dos if inclusive else when < dos):
                out.append(item)
        return out


Check = Callable[[dict, Ctx], Outcome]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn
    return register


def evidence(item: Item, vs: ValueSet | None = None) -> Evidence:
    coding = (vs.match(list(item.codings)) if vs else None) or (item.codings[0] if item.codings else None)
    when = item.when.isoformat() if item.when else None
    code = f"{coding.get('system', '')}|{coding.get('code', '')}" if coding else None
    display = text_of((coding or {}).get("display")) or item.text.strip() or None
    if item.value is not None and vs is not None:
        display = f"{display or 'value'} = {item.value:g}{(' ' + item.unit) if item.unit else ''}"
    return Evidence(item.ref, when, code, display[:120] if display else None)


def met(detail: str, *ev: Evidence) -> Outcome:
    return Outcome(Status.MET, detail, tuple(ev))


def unmet(detail: str, *ev: Evidence) -> Outcome:
    return Outcome(Status.UNMET, detail, tuple(ev))


def unknown(detail: str, *ev: Evidence) -> Outcome:
    return Outcome(Status.UNKNOWN, detail, tuple(ev))


def missing(ctx: Ctx, rtypes: tuple[str, ...], detail: str, *ev: Evidence) -> Outcome:
    """Nothing qualifying found: unmet, or unknown when the query for those types failed."""
    failed = [t for t in rtypes if ctx.incomplete(t)]
    if failed:
        return unknown(f"Could not read {', '.join(failed)} from the EHR; " + detail[0].lower() + detail[1:], *ev)
    return unmet(detail, *ev)


def weeks_text(days: int, required: int) -> str:
    return f"{max(days, 0) // 7} of {required} required weeks documented"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
