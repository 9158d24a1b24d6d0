"""Conservative-care checks: duration of noninvasive care, an active rehab / home-exercise program
alongside the injection, and the number of treatment modalities tried before an implant
(CMS WISeR guide v6.0 §6.2.10 for ESI, §6.2.5 and NCD 160.7 for stimulators; domain.md §2.2, §2.3,
§6.1-§6.3; plan packs: eviCore CMM-200, BCBSMA 690).

Duration is the documented span: from the earliest conservative-care record in the look-back to the
latest (medication records count their supply / validity period), capped at the date of service.
"""

from __future__ import annotations

from datetime import date, timedelta

from cds_service.policy.chart import Item
from cds_service.policy.checks.clinical import active_dx
from cds_service.policy.checks.core import Ctx, Outcome, check, evidence, met, missing, unmet, weeks_text
from cds_service.policy.valuesets import ValueSet

_KINDS = ("procedures", "medications")


def _modality_items(ctx: Ctx, vs: ValueSet) -> list[Item]:
    return [i for kind in _KINDS for i in ctx.chart.matching(kind, vs, text=kind == "medications")]


def _span(ctx: Ctx, items: list[Item], lookback: int) -> tuple[date, date] | None:
    dos = ctx.dos
    lo = dos - timedelta(days=lookback)
    starts, ends = [], []
    for item in items:
        start = item.start or item.end
        end = min(item.end or start, dos) if start else None
        if start is None or start > dos or (end and end < lo):
            continue
        starts.append(max(start, lo))
        ends.append(end or start)
    return (min(starts), max(ends)) if starts else None


@check("conservative_care")
def conservative_care(p: dict, ctx: Ctx) -> Outcome:
    if p.get("exempt_vs") and (z := active_dx(ctx, p["exempt_vs"])):
        return met("Acute herpes zoster: 4 weeks of conservative care not required", evidence(z[0]))
    if p.get("intolerance_code") and (att := ctx.before(ctx.chart.attested(p["intolerance_code"]))):
        return met("Intolerance of conservative care documented", evidence(att[-1]))
    weeks = p["weeks"]
    reduced = p.get("reduced_weeks")
    if reduced and active_dx(ctx, reduced["dx_vs"]):
        weeks = reduced["weeks"]
    per: dict[str, tuple[date, date]] = {}
    ev = []
    all_items: list[Item] = []
    for name, vs_id in p["modalities_vs"].items():
        items = _modality_items(ctx, ctx.vs(vs_id))
        span = _span(ctx, items, p["lookback_days"])
        if span:
            per[name] = span
            used = [i for i in items if i.when and span[0] <= i.when <= span[1]] or items
            ev.append(evidence(min(used, key=lambda i: i.when or date.max), ctx.vs(vs_id)))
            all_items += items
    total = _span(ctx, all_items, p["lookback_days"])
    days = (total[1] - total[0]).days if total else 0
    short = [m for m in p.get("require_all", []) if m not in per or (per[m][1] - per[m][0]).days < weeks * 7]
    if days >= weeks * 7 and not short:
        return met(f"Conservative therapy: {days // 7} weeks documented ({', '.join(sorted(per))})", *ev)
    if short and days >= weeks * 7:
        return unmet(f"Conservative therapy: {weeks} weeks each of {' and '.join(p['require_all'])} required; "
                     f"short: {', '.join(short)}", *ev)
    detail = f"Conservative therapy: {weeks_text(days, weeks)}"
    return missing(ctx, ("Procedure", "MedicationRequest", "MedicationStatement"), detail, *ev) if not ev \
        else unmet(detail, *ev)


@check("active_program")
def active_program(p: dict, ctx: Ctx) -> Outcome:
    """Guide §6.2.10: the patient "must be in" an active rehabilitation, home exercise or functional
    restoration program — ongoing, not a one-off. Counts: the clinician's attestation; a course (a
    record with a period: running, or reaching into the window); or treatment sessions on at least
    ``min_sessions`` days within the window. An evaluation alone plans care; it is not care."""
    if p.get("attestation_code") and (att := ctx.before(ctx.chart.attested(p["attestation_code"]))):
        return met("Active program documented", evidence(att[-1]))
    lo = ctx.dos - timedelta(days=p["within_days"])
    evaluations = ctx.vs(p["evaluations_vs"]) if p.get("evaluations_vs") else None
    sessions: dict[date, tuple[Item, ValueSet]] = {}
    one_off = None
    for vs_id in p["modalities_vs"].values():
        vs = ctx.vs(vs_id)
        for item in _modality_items(ctx, vs):
            start, end = item.start or item.end, item.end
            if not start or start > ctx.dos or (end or start) < lo:
                continue
            if end and end > start:
                return met(f"Ongoing care: {item.text.strip() or vs.title} ({start.isoformat()} to {end.isoformat()})",
                           evidence(item, vs))
            if evaluations and evaluations.match(list(item.codings)):
                one_off = one_off or (item, vs)
                continue
            sessions.setdefault(start, (item, vs))
    need = p.get("min_sessions", 1)
    if len(sessions) >= need:
        days = sorted(sessions)
        item, vs = sessions[days[-1]]
        return met(f"Ongoing care: {len(days)} sessions in the last {p['within_days']} days, latest "
                   f"{days[-1].isoformat()}", *(evidence(*sessions[d]) for d in days[-need:]))
    found = [*sessions.values(), *([one_off] if one_off else [])]
    what = "an evaluation" if one_off and not sessions else f"{len(sessions)} session"
    detail = (f"No active rehab / home-exercise program: only {what} in the last {p['within_days']} days "
              f"(ongoing means sessions on at least {need} days, or a course still running)") if found else \
        f"No active rehab / home-exercise program in the last {p['within_days']} days"
    return missing(ctx, ("Procedure",), detail, *(evidence(i, v) for i, v in found[:3]))


@check("modalities_tried")
def modalities_tried(p: dict, ctx: Ctx) -> Outcome:
    tried, ev = [], []
    for name, vs_id in p["modalities_vs"].items():
        vs = ctx.vs(vs_id)
        items = ctx.before(_modality_items(ctx, vs), inclusive=False)
        if not items and name == "surgery":
            items = ctx.before([i for i in ctx.chart.matching("conditions", vs)])
        if items:
            tried.append(name)
            ev.append(evidence(items[0], vs))
    if len(tried) >= p["min"]:
        return met("Tried: " + ", ".join(tried), *ev)
    detail = f"Treatments tried and failed: {len(tried)} of {p['min']} modalities documented" + (f" ({', '.join(tried)})" if tried else "")
    return missing(ctx, ("Procedure", "MedicationRequest"), detail, *ev) if not tried else unmet(detail, *ev)
