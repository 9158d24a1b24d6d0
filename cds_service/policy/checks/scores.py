"""Validated-scale and procedure-history checks: baseline score, ESI frequency per region, repeat only
after sustained relief on the same scale, stimulator trial relief, PVA pain threshold
(CMS WISeR guide v6.0 §6.2.10, §6.2.5, §6.2.9; LCD L33906 family; OIG A-07-21-00618; domain.md §6.4).

All the scales painpa reads (NRS, VAS, ODI, NDI, PROMIS pain interference) improve downwards, so
relief = 1 - follow-up / baseline on the same LOINC code.
"""

from __future__ import annotations

from datetime import date, timedelta

from cds_service.policy.chart import Item
from cds_service.policy.checks.core import Ctx, Outcome, check, evidence, met, missing, ordinal, unmet
from cds_service.policy.valuesets import ValueSet


def _scored(ctx: Ctx, vs_ids: list[str] | str) -> list[tuple[Item, ValueSet, str]]:
    """(observation, value set, LOINC code) for scale observations with a numeric value."""
    out = []
    for vs_id in [vs_ids] if isinstance(vs_ids, str) else vs_ids:
        vs = ctx.vs(vs_id)
        for item in ctx.chart.matching("observations", vs):
            coding = vs.match(list(item.codings))
            if coding and item.when:
                out.append((item, vs, str(coding.get("code"))))
    return out


def _score(item: Item) -> float | None:
    if item.value is None:
        return None
    return item.value / 10 if item.unit.lower() == "mm" else item.value


@check("baseline_scale")
def baseline_scale(p: dict, ctx: Ctx) -> Outcome:
    """The baseline is dated before the injection(s) it is the baseline for: the ordered one, or, for a
    repeat, the first injection of the course in this region (relief is measured "from baseline",
    guide §6.2.10). A score taken after an injection measures its effect and never serves as one."""
    first, course = ctx.dos, []
    if p.get("procedures_vs"):
        _, dates, _ = _sessions(ctx, p)
        course = [d for d in dates if d > ctx.dos - timedelta(days=p["course_days"])]
        first = course[0] if course else ctx.dos
    scored = _scored(ctx, p["scales_vs"])
    found = [(i, vs) for i, vs, _ in scored if i.when < first and (first - i.when).days <= p["within_days"]]
    what = f"the first injection of this course ({first.isoformat()})" if course else "the injection"
    if found:
        item, vs = max(found, key=lambda t: t[0].when)
        return met(f"Baseline score {item.when.isoformat()}, before {what}", evidence(item, vs))
    after = [(i, vs) for i, vs, _ in scored if first <= i.when <= ctx.dos]
    if after:
        item, vs = min(after, key=lambda t: t[0].when)
        return unmet(f"No baseline score before {what}: the score of {item.when.isoformat()} was taken after "
                     "an injection and measures its effect, not the baseline", evidence(item, vs))
    return missing(ctx, ("Observation",), "No baseline pain score on file")


def _sessions(ctx: Ctx, p: dict) -> tuple[str, list[date], list[Item]]:
    """Prior sessions (distinct dates before the date of service) in the ordered region."""
    procs = ctx.chart.matching("procedures", ctx.vs(p["procedures_vs"]))
    regions = [v for v in p.get("region_vss", []) if any(ctx.vs(v).contains(None, c) for c in ctx.facts.codes)]
    label = ""
    if regions:
        vs = ctx.vs(regions[0])
        label = p.get("region_labels", {}).get(regions[0], vs.title.split(": ")[-1])
        procs = [i for i in procs if vs.match(list(i.codings))]
    prior = ctx.before(procs, inclusive=False)
    return label, sorted({i.when for i in prior}), prior


@check("frequency")
def frequency(p: dict, ctx: Ctx) -> Outcome:
    label, dates, prior = _sessions(ctx, p)
    ev = [evidence(i) for i in sorted(prior, key=lambda i: i.when)[-6:]]
    for limit in sorted(p["limits"], key=lambda lim: lim["window_days"]):
        lo = ctx.dos - timedelta(days=limit["window_days"])
        count = sum(1 for d in dates if d > lo)
        if count >= limit["max"]:
            months = round(limit["window_days"] / 30.4)
            return unmet(f"{ordinal(count + 1)} {label} ESI in {months} months — not covered"
                         .replace("  ", " "), *ev)
    gap = p.get("min_interval_days")
    if gap and dates and (ctx.dos - dates[-1]).days < gap:
        return unmet(f"Only {(ctx.dos - dates[-1]).days} days since the last session (minimum {gap})", *ev)
    count = sum(1 for d in dates if d > ctx.dos - timedelta(days=max(lim["window_days"] for lim in p["limits"])))
    if ctx.incomplete("Procedure"):
        return missing(ctx, ("Procedure",), f"{count} prior sessions found; history may be incomplete", *ev)
    return met(f"{ordinal(count + 1)} session in the window (limit {p['limits'][-1]['max']})", *ev)


@check("repeat_relief")
def repeat_relief(p: dict, ctx: Ctx) -> Outcome:
    _, dates, prior = _sessions(ctx, p)
    recent = [d for d in dates if d > ctx.dos - timedelta(days=p["window_days"])]
    if not recent:
        if ctx.incomplete("Procedure"):
            return missing(ctx, ("Procedure",), "Prior injections not checked")
        return met("Not a repeat injection in this region within 12 months")
    last = recent[-1]
    last_ev = evidence(max((i for i in prior if i.when == last), key=lambda i: i.ref))
    scored = _scored(ctx, p["scales_vs"])
    baselines = [t for t in scored if t[0].when < last and _score(t[0]) is not None]
    if not baselines:
        return missing(ctx, ("Observation",), f"No score before the last injection ({last.isoformat()}) to compare", last_ev)
    base, vs, code = max(baselines, key=lambda t: t[0].when)
    base_value = _score(base)
    follow = [t[0] for t in scored if t[2] == code and last < t[0].when <= ctx.dos and _score(t[0]) is not None]
    if not follow:
        return missing(ctx, ("Observation",), f"No follow-up score on the same scale ({code}) since {last.isoformat()}",
                       last_ev, evidence(base, vs))
    target = base_value * (1 - p["improvement"])
    good = [f for f in follow if _score(f) <= target]
    sustained = [f for f in good if (f.when - last).days >= p["sustained_days"]]
    best = min(follow, key=_score)
    relief = 0 if base_value == 0 else round(100 * (1 - _score(best) / base_value))
    ev = (last_ev, evidence(base, vs), evidence(sustained[-1] if sustained else best, vs))
    if sustained:
        return met(f"{relief}% relief sustained {(sustained[-1].when - last).days} days after the last injection", *ev)
    if good:
        return unmet(f"{relief}% relief recorded, but not shown for >= {p['sustained_days']} days", *ev)
    if (under := p.get("underperforming")) and len(recent) == 1:
        return _after_underperforming(under, ctx, last, relief, ev)
    return unmet(f"Only {relief}% relief after the last injection (>= {round(100 * p['improvement'])}% required)", *ev)


def _after_underperforming(under: dict, ctx: Ctx, last: date, relief: int, ev: tuple) -> Outcome:
    """Guide §6.2.10: when the first ESI underperforms, a repeat after 14 days with a different approach,
    level or medication and a clear rationale. The change is read from the codes (approach) and the
    bodySite (level), or attested with the rationale; the rationale is the attestation or the order's note."""
    days = (ctx.dos - last).days
    head = f"Only {relief}% relief after the first ESI ({last.isoformat()})"
    if days < under["min_days"]:
        return unmet(f"{head}: a repeat needs at least {under['min_days']} days (planned {days} days after it)", *ev)
    attested = [i for i in ctx.chart.attested(under["attestation_code"]) if i.when and last <= i.when <= ctx.dos]
    changes = _changes(under, ctx, last)
    note = " ".join(str(n.get("text") or "") for n in ctx.order.get("note") or () if isinstance(n, dict)).strip()
    if attested:
        return met(f"{head}: repeat after {days} days with a documented change and rationale", *ev, evidence(attested[-1]))
    if changes and note:
        return met(f"{head}: repeat after {days} days with a different {' and '.join(changes)}; rationale on the order", *ev)
    lacking = "the rationale" if changes else "a different approach, level or medication with the rationale"
    return unmet(f"{head}: a repeat after {days} days needs {lacking} documented", *ev)


def _sites(resource: dict) -> set[tuple]:
    return {(c.get("system"), c.get("code")) for s in resource.get("bodySite") or () for c in s.get("coding") or ()}


def _changes(under: dict, ctx: Ctx, last: date) -> list[str]:
    prior = [ctx.chart.record.resolve(i.ref) or {} for i in ctx.chart.matching("procedures", ctx.vs(under["procedures_vs"]))
             if i.when == last]
    prior_codes = {c.get("code") for r in prior for c in (r.get("code") or {}).get("coding") or ()}

    def approach(codes: set) -> set[str]:
        return {name for name, vs_id in under["approach_vss"].items() if any(ctx.vs(vs_id).contains(None, c) for c in codes)}

    out = []
    if approach(set(ctx.facts.codes)) - approach(prior_codes):
        out.append("approach")
    ordered, before = _sites(ctx.order), set().union(*(_sites(r) for r in prior)) if prior else set()
    if ordered and before and not ordered & before:
        out.append("level")
    return out


@check("trial_relief")
def trial_relief(p: dict, ctx: Ctx) -> Outcome:
    permanent = ctx.before(ctx.chart.matching("procedures", ctx.vs(p["permanent_vs"])), inclusive=False)
    replacing = ctx.vs(p["replacement_vs"])
    if permanent and ctx.facts.codes and all(replacing.contains(None, c) for c in ctx.facts.codes):
        # Only a generator/battery replacement keeps the trial that justified the implant on file; new
        # leads (63655, or 63650 for a percutaneous system) are a new system that needs its own trial.
        latest = max(permanent, key=lambda i: i.when)
        return met(f"Generator replacement for the implant of {latest.when.isoformat()}: no new trial required",
                   evidence(latest))
    trials = ctx.before(ctx.chart.matching("procedures", ctx.vs(p["trial_vs"])), inclusive=False)
    if not trials:
        return missing(ctx, ("Procedure",), "No stimulator trial on file")
    trial = max(trials, key=lambda i: i.when)
    scored = _scored(ctx, p["scales_vs"])
    before = [t for t in scored if t[0].when <= trial.when and _score(t[0]) is not None]
    if not before:
        return missing(ctx, ("Observation",), "No pain score before the trial to compare", evidence(trial))
    base, vs, code = max(before, key=lambda t: t[0].when)
    end = (trial.end or trial.when) + timedelta(days=p["window_days"])
    during = [t[0] for t in scored if t[2] == code and trial.when < t[0].when <= end and _score(t[0]) is not None]
    if not during:
        return missing(ctx, ("Observation",), f"No pain score during the trial on the same scale ({code})", evidence(trial))
    best = min(during, key=_score)
    relief = 0 if _score(base) == 0 else round(100 * (1 - _score(best) / _score(base)))
    ev = (evidence(trial), evidence(base, vs), evidence(best, vs))
    if relief >= 100 * p["improvement"]:
        return met(f"Trial relief {relief}%", *ev)
    return unmet(f"Trial relief {relief}% (>= {round(100 * p['improvement'])}% required)", *ev)


@check("no_prior_procedure")
def no_prior_procedure(p: dict, ctx: Ctx) -> Outcome:
    """A once-per-lifetime item (one permanent stimulator): unmet when one is already on file, unless the
    order is only a replacement of its parts."""
    if p.get("unless_codes_vs") and ctx.facts.codes and all(
            ctx.vs(p["unless_codes_vs"]).contains(None, c) for c in ctx.facts.codes):
        return met("Replacement of a part of the implant on file, not a new one")
    vs = ctx.vs(p["procedures_vs"])
    prior = ctx.before(ctx.chart.matching("procedures", vs), inclusive=False)
    if prior:
        latest = max(prior, key=lambda i: i.when)
        return unmet(f"A permanent implant is already on file ({latest.when.isoformat()}); {p['limit']}",
                     evidence(latest, vs))
    if ctx.incomplete("Procedure"):
        return missing(ctx, ("Procedure",), "Earlier implants not checked")
    return met("No earlier permanent implant on file")


@check("pain_threshold")
def pain_threshold(p: dict, ctx: Ctx) -> Outcome:
    threshold = p.get("min_by_setting", {}).get(ctx.facts.setting or "", p["min"])
    found = [t for t in _scored(ctx, p["scales_vs"]) if ctx.before([t[0]], p["within_days"]) and _score(t[0]) is not None]
    if not found:
        return missing(ctx, ("Observation",), f"No pain score in the last {p['within_days']} days")
    item, vs, _ = max(found, key=lambda t: t[0].when)
    if _score(item) >= threshold:
        return met(f"Pain {_score(item):g}/10 (>= {threshold})", evidence(item, vs))
    return unmet(f"Pain {_score(item):g}/10 is below the {threshold}/10 threshold", evidence(item, vs))
