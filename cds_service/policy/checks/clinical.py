"""Diagnosis, contraindication, order-code, imaging and attestation checks (domain.md §2.2 ESI
indications and exclusions, §2.3 NCD 160.7 selection, §2.4 PVA indications / imaging /
contraindications; CMS WISeR guide v6.0 §6.2.5, §6.2.9, §6.2.10).
"""

from __future__ import annotations

from cds_service.policy.chart import Item, _codings
from cds_service.policy.checks.core import Ctx, Outcome, check, evidence, met, missing, unmet, weeks_text
from cds_service.policy.model import Evidence


def _reason_items(ctx: Ctx) -> list[Item]:
    """The order's own reasonCode / reasonReference count as diagnoses (CRD 2.2 sends ICD-10 there)."""
    out = []
    for concept in ctx.order.get("reasonCode") or ():
        out.append(Item(ctx.facts.ref, _codings(concept), "", ctx.dos, ctx.dos))
    for ref in ctx.order.get("reasonReference") or ():
        target = ctx.chart.record.resolve((ref or {}).get("reference"))
        if isinstance(target, dict) and target.get("resourceType") == "Condition":
            out.append(Item(f"Condition/{target.get('id')}", _codings(target.get("code")), "", ctx.dos, ctx.dos))
    return out


def active_dx(ctx: Ctx, vs_id: str) -> list[Item]:
    vs = ctx.vs(vs_id)
    found = [i for i in ctx.chart.matching("conditions", vs) if i.active]
    return found + [i for i in _reason_items(ctx) if vs.match(list(i.codings))]


@check("diagnosis")
def diagnosis(p: dict, ctx: Ctx) -> Outcome:
    for group in p["any_of_vs"]:
        hits = [active_dx(ctx, vs_id) for vs_id in group]
        if all(hits):
            ev = [evidence(h[0], ctx.vs(vs_id)) for h, vs_id in zip(hits, group, strict=True)]
            return met("Qualifying diagnosis: " + ", ".join(e.code.split("|")[-1] for e in ev if e.code), *ev)
    partial = [(vs_id, active_dx(ctx, vs_id)) for group in p["any_of_vs"] for vs_id in group]
    partial_ev = [evidence(h[0], ctx.vs(v)) for v, h in partial if h]
    if p.get("axial_vs"):
        axial = active_dx(ctx, p["axial_vs"])
        if axial:
            return unmet("Only axial spine pain is coded (e.g. " + (axial[0].codings[0].get("code") or "?")
                         + "); axial pain alone does not support the procedure", evidence(axial[0], ctx.vs(p["axial_vs"])))
    if partial_ev:
        return unmet("Diagnosis incomplete: a required paired code is missing", *partial_ev)
    return missing(ctx, ("Condition",), "No qualifying diagnosis on file")


@check("pain_duration")
def pain_duration(p: dict, ctx: Ctx) -> Outcome:
    if p.get("exempt_vs") and (z := active_dx(ctx, p["exempt_vs"])):
        return met("Acute herpes zoster: no 4-week wait required", evidence(z[0], ctx.vs(p["exempt_vs"])))
    dx = [i for i in active_dx(ctx, p["dx_vs"]) if i.ref != ctx.facts.ref]
    dated = [(i.start or i.end, i) for i in dx if (i.start or i.end)]
    if not dated:
        if dx:
            return unmet("Pain onset date not recorded on the diagnosis", evidence(dx[0], ctx.vs(p["dx_vs"])))
        return missing(ctx, ("Condition",), "No dated qualifying diagnosis on file")
    onset, item = min(dated, key=lambda t: t[0])
    days = (ctx.dos - onset).days
    ev = evidence(item, ctx.vs(p["dx_vs"]))
    if days >= p["weeks"] * 7:
        return met(f"Pain documented since {onset.isoformat()} ({days // 7} weeks)", ev)
    return unmet(f"Pain duration: {weeks_text(days, p['weeks'])}", ev)


@check("recent_onset")
def recent_onset(p: dict, ctx: Ctx) -> Outcome:
    dx = [i for vs_id in p["dx_vss"] for i in active_dx(ctx, vs_id) if i.ref != ctx.facts.ref]
    dated = [i for i in dx if i.start]
    if not dated:
        if dx:
            return unmet("Fracture onset date not recorded", evidence(dx[0]))
        return missing(ctx, ("Condition",), "No dated fracture diagnosis on file")
    item = max(dated, key=lambda i: i.start)
    days = (ctx.dos - item.start).days
    if 0 <= days <= p["max_days"]:
        return met(f"Fracture onset {item.start.isoformat()}: {days // 7} weeks before service", evidence(item))
    return unmet(f"Fracture onset {item.start.isoformat()} is {days // 7} weeks before service "
                 f"(acute/subacute means within {p['max_days'] // 7} weeks)", evidence(item))


@check("no_condition")
def no_condition(p: dict, ctx: Ctx) -> Outcome:
    vs = ctx.vs(p["conditions_vs"])
    found = [i for i in ctx.chart.matching("conditions", vs) if i.active and (i.when is None or i.when <= ctx.dos)]
    if found:
        codes = ", ".join(sorted({(vs.match(list(i.codings)) or {}).get("code", "?") for i in found}))
        return unmet(f"On file: {codes} ({vs.title.split(':')[-1].strip()})", *(evidence(i, vs) for i in found[:5]))
    if ctx.incomplete("Condition"):
        return missing(ctx, ("Condition",), "Contraindications not checked")
    return met(f"None recorded ({vs.title.split(':')[-1].strip()})")


@check("code_excluded")
def code_excluded(p: dict, ctx: Ctx) -> Outcome:
    vs = ctx.vs(p["codes_vs"])
    bad = [c for c in ctx.facts.codes if vs.contains(None, c)]
    order_ev = Evidence(ctx.facts.ref, ctx.dos.isoformat(), None, "draft order")
    if bad:
        return unmet(f"{', '.join(bad)} is not covered ({vs.title})", order_ev)
    return met("Ordered code is a covered variant", order_ev)


@check("single_region")
def single_region(p: dict, ctx: Ctx) -> Outcome:
    regions = [v for v in p["region_vss"] if any(ctx.vs(v).contains(None, c) for c in ctx.facts.codes)]
    if len(regions) > 1:
        return unmet("The order spans " + " and ".join(ctx.vs(v).title.split(": ")[-1] for v in regions))
    return met("One spinal region per session")


@check("attestation")
def attestation(p: dict, ctx: Ctx) -> Outcome:
    found = ctx.before(ctx.chart.attested(p["code"]))
    if found:
        latest = max(found, key=lambda i: i.when)
        return met(f"Documented {latest.when.isoformat()}", evidence(latest))
    return missing(ctx, ("Observation",), "Not documented")


def _keyword_items(ctx: Ctx, kinds: tuple[str, ...], keywords: list[str]) -> list[Item]:
    words = [k.lower() for k in keywords]
    if not words:
        return []
    out = []
    for kind in kinds:
        for i in ctx.chart.items[kind]:
            low = f" {i.text.lower()} "
            if any(w in low for w in words):
                out.append(i)
    return out


@check("procedure_history")
def procedure_history(p: dict, ctx: Ctx) -> Outcome:
    if p.get("skip_if_dx_vs") and (dx := active_dx(ctx, p["skip_if_dx_vs"])):
        return met("Not required for this indication", evidence(dx[0]))
    if p.get("attestation_code") and (att := ctx.before(ctx.chart.attested(p["attestation_code"]))):
        return met(f"Documented {att[-1].when.isoformat()}", evidence(att[-1]))
    vs = ctx.vs(p["procedures_vs"])
    found = ctx.before(ctx.chart.matching("procedures", vs), p.get("within_days"))
    found += ctx.before(_keyword_items(ctx, ("documents", "reports"), p.get("keywords", [])), p.get("within_days"))
    if found:
        latest = max(found, key=lambda i: i.when)
        return met(f"On file {latest.when.isoformat()}", evidence(latest, vs))
    window = f" in the last {p['within_days'] // 30} months" if p.get("within_days") else ""
    return missing(ctx, ("Procedure", "DocumentReference"), f"None on file{window}")


@check("imaging")
def imaging(p: dict, ctx: Ctx) -> Outcome:
    modalities = {c.upper() for c in ctx.vs(p["modalities_vs"]).codes()}
    words = [k.lower() for k in p.get("keywords", [])]
    hits = []
    for i in ctx.chart.items["reports"]:
        if modalities.intersection(i.extra.split()):
            hits.append(i)
        elif words:
            low = f" {i.text.lower()} "
            if any(w in low for w in words):
                hits.append(i)
    found = ctx.before(hits, p.get("within_days"))
    if found:
        latest = max(found, key=lambda i: i.when)
        return met(f"Imaging report {latest.when.isoformat()}", evidence(latest))
    older = ctx.before(hits)
    window = f" within {p['within_days'] // 30} months" if p.get("within_days") else ""
    if older:
        latest = max(older, key=lambda i: i.when)
        return unmet(f"Latest imaging {latest.when.isoformat()} is older than required{window}", evidence(latest))
    return missing(ctx, ("DiagnosticReport", "ImagingStudy"), f"No MRI/CT imaging report on file{window}")
