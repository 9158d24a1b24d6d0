"""evaluate(): one Determination per draft order, in order (ARCHITECTURE.md "How an order's
determination maps to CRD coverage-information").

The record is indexed once (:class:`~cds_service.policy.chart.Chart`) and PA decisions are read once;
each order then costs a routing decision plus one pass of its family's checks over memoised matches.

Mapping, per the table:
- a requirement marked ``excludes`` that is unmet (frequency limit, non-covered variant) →
  ``not-covered``, no ``pa-needed``;
- every clinical/admin requirement met → ``covered``; otherwise ``conditional`` with
  ``doc-needed = clinical`` (or ``admin``) and ``info-needed = OTH`` + reason;
- PA program code → ``auth-needed``, or ``satisfied`` with the UTN when an affirmed, unexpired
  decision covers every PA code, or ``conditional`` + ``info-needed = OTH`` + reason when the PA
  records could not be read (never a guess); no program → ``no-auth``;
- unknown plan, or an order outside the three families → ``conditional`` / ``conditional`` with
  ``info-needed = OTH`` and a reason (never a guess); when the plan is unknown because the Coverage
  query failed, ``unread = ("Coverage",)`` and the reason says so (no requirement is judged unmet).
"""

from __future__ import annotations

from datetime import date

from cds_service.policy import priorauth
from cds_service.policy.chart import MALFORMED, Chart
from cds_service.policy.checks import CHECKS, Ctx, Outcome
from cds_service.policy.indication import other_use
from cds_service.policy.loader import PolicyDoc, PolicySet
from cds_service.policy.model import (
    Determination,
    PAState,
    PriorAuthStatus,
    Program,
    ProgramKind,
    RequirementResult,
    Status,
)
from cds_service.policy.orders import OrderFacts, named_coverage, read_order
from cds_service.policy.record import PatientRecord
from cds_service.policy.routing import Route, citation, family_policy, route

OUT_OF_SCOPE_REASON = "not an interventional pain order; painpa makes no determination"
UNREADABLE_REASON = "the draft order could not be read; painpa makes no determination"


def _choices(spec: dict, windows: dict[str, int]) -> dict:
    """Apply the tenant's values to the params that are painpa's own choice, and say so in the fix."""
    said = []
    for choice in spec.get("painpa_choices", ()):
        key, default = f"{spec['id']}.{choice['param']}", spec["params"][choice["param"]]
        if key in windows:
            spec["params"] = {**spec["params"], choice["param"]: windows[key]}
            said.append(f"The {windows[key]}-day window is your organisation's setting ({key}; painpa's default "
                        f"is {default}): not a policy rule.")
        else:
            said.append(f"The {default}-day window is painpa's choice, not the policy's: {choice['why']} "
                        f"Your organisation can change it ({key}).")
    if said:
        spec["choice_note"] = " ".join(said)
    return spec


def requirement_specs(family: PolicyDoc, rt: Route, facts: OrderFacts, policies: PolicySet,
                      windows: dict[str, int] | None = None) -> list[dict]:
    """The family's requirements, with the plan pack's overrides / drops / additions and the tenant's
    windows, filtered by ``when``."""
    specs = [_choices(dict(s), windows or {}) for s in family.data["requirements"]]
    if rt.pack is not None:
        spec = rt.pack.data["families"][family.id]
        dropped = set(spec.get("drop", ()))
        specs = [s for s in specs if s["id"] not in dropped]
        for s in specs:
            if over := spec.get("overrides", {}).get(s["id"]):
                s["params"] = {**s["params"], **over.get("params", {})}
                s["citation"] = over["citation"]
                s["title"] = over.get("title", s["title"])
                s["fix"] = over.get("fix", s["fix"])
            elif s["kind"] != "audit":
                # The plan's criteria govern (the WISeR guide does not apply to MA or commercial plans):
                # a criterion the pack keeps from the family cites the pack, flagged until checked in it.
                s["citation"] = {**spec["citation"], "status": "unconfirmed",
                                 "note": "Criterion kept from the Medicare LCD family in this plan pack; "
                                         "not checked against the plan's own text."}
        specs += [dict(s) for s in spec.get("add", ())]
    kind = "plan-pack" if rt.program.kind is ProgramKind.PLAN_PACK else rt.program.kind.value

    def applies(s: dict) -> bool:
        when = s.get("when") or {}
        if "programs" in when and kind not in when["programs"]:
            return False
        if "states" in when and facts.state not in when["states"]:
            return False
        if "codes_in" in when and not any(policies.vs(when["codes_in"]).contains(None, c) for c in facts.codes):
            return False
        return not ("codes_not_in" in when and any(policies.vs(when["codes_not_in"]).contains(None, c) for c in facts.codes))

    return [s for s in specs if applies(s)]


# Checks whose detail reads as a card summary on its own ("No baseline pain score on file"); the
# others are prefixed with the requirement title ("Multidisciplinary evaluation ...: Not documented").
SELF_CONTAINED = {"single_region", "active_program", "modalities_tried", "no_condition", "conservative_care",
                  "baseline_scale", "frequency", "pain_duration", "code_excluded", "repeat_relief", "trial_relief",
                  "pain_threshold", "cloned_notes", "diagnosis", "imaging", "no_prior_procedure"}


def _run(spec: dict, ctx: Ctx) -> RequirementResult:
    try:
        outcome = CHECKS[spec["check"]](spec["params"], ctx)
    except MALFORMED:
        outcome = Outcome(Status.UNKNOWN, "Could not evaluate: the record holds malformed data for this check")
    detail = outcome.detail if spec["check"] in SELF_CONTAINED else f"{spec['title']}: {outcome.detail}"
    fix = spec["fix"] if outcome.status is Status.MET or "choice_note" not in spec else f"{spec['fix']} ({spec['choice_note']})"
    return RequirementResult(
        id=spec["id"], title=spec["title"], status=outcome.status, detail=detail, fix=fix,
        citation=citation(spec["citation"]), evidence=outcome.evidence, kind=spec["kind"], form=spec.get("form"),
        excludes=bool(spec.get("excludes")), topic=spec["topic"])


def _with_blocks(results: list[RequirementResult], specs: list[dict]) -> tuple[RequirementResult, ...]:
    """Mark results that cannot pass while a prerequisite (``requires`` in the data) is unmet, so
    that one problem yields one card (pain duration needs the diagnosis first); a requirement whose
    part (``includes``) is not met is not met either (a multidisciplinary evaluation without its
    psychological part), and waits on that part's card."""
    by_id = {r.id: r for r in results}
    out = []
    for r, spec in zip(results, specs, strict=True):
        part = next((by_id[i] for i in spec.get("includes", ()) if i in by_id and by_id[i].status is not Status.MET), None)
        if part is not None and r.status is Status.MET:
            r = RequirementResult(**{**r.__dict__, "status": part.status, "blocked_by": part.id,
                                     "detail": f"{r.detail}, but its part \"{part.title}\" is {part.status.value}"})
        pre = by_id.get(spec.get("requires", ""))
        if pre is not None and pre.status is not Status.MET and r.status is not Status.MET:
            r = RequirementResult(**{**r.__dict__, "blocked_by": pre.id})
        out.append(r)
    return tuple(out)


def _out_of_scope(facts: OrderFacts, coverage_ref: str | None, payer: str) -> Determination:
    return Determination(
        order_ref=facts.ref, codes=facts.codes, family=None,
        program=Program(ProgramKind.OUT_OF_SCOPE, "out-of-scope", "Not an interventional pain order"),
        covered="conditional", pa_needed="conditional", prior_auth=PriorAuthStatus(PAState.UNKNOWN),
        coverage_ref=coverage_ref, info_needed=("OTH",), reason=OUT_OF_SCOPE_REASON, payer=payer,
        service_date=facts.service_date, state=facts.state, setting=facts.setting)


def _payer_label(facts: OrderFacts, rt: Route | None) -> str:
    if facts.coverage_kind == "medicare-ffs":
        return "Medicare"
    if rt is not None and rt.pack is not None:
        return rt.pack.data["payer"]["name"]
    return facts.payer_name or "Health plan"


def _evaluate_one(order: dict, record: PatientRecord, chart: Chart, decisions: list[priorauth.Decision],
                  policies: PolicySet, today: date) -> Determination:
    programs = policies.programs(today)
    facts = read_order(order, record, programs.data if programs else None, today)
    programs = policies.programs(facts.service_date) or programs
    coverage_ref = f"Coverage/{facts.coverage['id']}" if facts.coverage and facts.coverage.get("id") else None
    if facts.coverage_unread:
        coverage_ref = named_coverage(order)   # the EHR names it, so coverage-information can cite it
    family = policies.family_of(facts.codes, facts.service_date)
    if family is None:
        return _out_of_scope(facts, coverage_ref, _payer_label(facts, None))
    if why := other_use(family, facts.codes, order, record, policies):
        return Determination(**{**_out_of_scope(facts, coverage_ref, _payer_label(facts, None)).__dict__, "reason": why})
    rt = route(facts, family, policies, programs)
    common = {"order_ref": facts.ref, "codes": facts.codes, "family": family.id, "program": rt.program,
              "coverage_ref": coverage_ref, "payer": _payer_label(facts, rt), "service_date": facts.service_date,
              "state": facts.state, "setting": facts.setting}
    versions = [f"{d.id}@{d.version}" for d in (family, programs, rt.pack) if d is not None]
    if rt.program.kind is ProgramKind.UNKNOWN_PLAN:
        return Determination(**common, covered="conditional", pa_needed="conditional",
                             prior_auth=PriorAuthStatus(PAState.UNKNOWN), info_needed=rt.info_needed,
                             reason=rt.reason, policy_version="; ".join(versions), notes=rt.notes,
                             unread=rt.unread)

    ctx = Ctx(chart, facts, policies, order)
    specs = requirement_specs(family, rt, facts, policies, dict(record.defaults.windows))
    results = _with_blocks([_run(spec, ctx) for spec in specs], specs)
    if rt.pack is not None:
        cite = rt.pack.data["families"][family.id]["citation"]
        common["policy_url"], common["policy_label"] = cite.get("url", ""), cite["source"]
    else:
        entry = family_policy(family, facts.state)
        common["policy_url"], common["policy_label"] = entry["citation"].get("url", ""), entry.get("label", "")

    if rt.pa_codes:
        pa = priorauth.status(rt.pa_codes, decisions, facts.service_date, rt.validity_days, exclude_ref=facts.ref,
                              unread=priorauth.unread(record))
        pa = PriorAuthStatus(**{**pa.__dict__, "citation": rt.program.citation})
        if rt.follow_on and pa.state is not PAState.SATISFIED:
            pa = _after_trial(rt, chart, policies, decisions, facts) or pa
    elif rt.info_needed:
        pa = PriorAuthStatus(PAState.UNKNOWN, citation=rt.program.citation)
    else:
        pa = PriorAuthStatus(PAState.NOT_NEEDED, citation=rt.program.citation)
    notes = list(rt.notes)
    if rt.outside:
        # Said, not left silent: the physician must tell "nothing to request" from "not evaluated".
        criteria = "; ".join(r.title for r in results if r.kind != "audit")
        notes.insert(0, f"No prior-authorization program applies — nothing to request ({rt.outside}). "
                        f"The claim is reviewed against {common['policy_label'] or rt.program.label}: {criteria}.")
    if rt.follow_on and pa.state is PAState.SATISFIED and pa.expires is None:
        notes.append(f"{rt.program.label}: the permanent implant follows the trial affirmed under UTN {pa.utn}; "
                     "no new prior authorization is needed. Put that UTN on the permanent implantation claim.")
    if pa.utn and rt.utn_length and len(pa.utn) != rt.utn_length:
        notes.append(f"Authorization number {pa.utn} is {len(pa.utn)} characters; "
                     f"{rt.program.label} UTNs are {rt.utn_length}: check it before billing.")

    excluded = [r for r in results if r.excludes and r.status is Status.UNMET]
    open_docs = [r for r in results if r.kind in ("clinical", "admin") and r.status is not Status.MET]
    at_risk = rt.associated if rt.associated and pa.state is not PAState.SATISFIED else ()
    if excluded:
        return Determination(**common, covered="not-covered", pa_needed=None, prior_auth=pa,
                             reason="; ".join(r.detail for r in excluded), requirements=results,
                             companion_codes_at_risk=at_risk, policy_version="; ".join(versions),
                             notes=tuple(notes))
    if rt.pa_codes:
        pa_needed = {PAState.SATISFIED: "satisfied", PAState.UNKNOWN: "conditional"}.get(pa.state, "auth-needed")
    else:
        pa_needed = "conditional" if rt.info_needed else "no-auth"
    covered = "conditional" if open_docs else "covered"
    doc_needed = None
    if open_docs:
        doc_needed = "clinical" if any(r.kind == "clinical" for r in open_docs) else "admin"
    info: list[str] = list(rt.info_needed)
    reasons = [rt.reason] if rt.reason else []
    if pa.unread:
        info.append("OTH")
        reasons.append(f"Prior authorization required ({rt.program.label}) but the EHR did not return "
                       f"{', '.join(pa.unread)}: whether a decision is on file is unknown.")
    if open_docs:
        info.append("OTH")
        reasons.append("Documentation incomplete: " + "; ".join(f"{r.title} ({r.status.value})" for r in open_docs))
    return Determination(**common, covered=covered, pa_needed=pa_needed, prior_auth=pa, doc_needed=doc_needed,
                         info_needed=tuple(dict.fromkeys(info)), reason=" ".join(reasons), requirements=results,
                         companion_codes_at_risk=at_risk, policy_version="; ".join(versions), notes=tuple(notes))


def _after_trial(rt: Route, chart: Chart, policies: PolicySet, decisions: list[priorauth.Decision],
                 facts: OrderFacts) -> PriorAuthStatus | None:
    """The trial's affirmed decision, carried over to the permanent implant (``trial_follow_on``)."""
    trials = chart.matching("procedures", policies.vs(rt.follow_on["trial_vs"]))
    done = [i.when for i in trials if i.when and i.when < facts.service_date]
    found = priorauth.follow_on(rt.pa_codes, decisions, done, exclude_ref=facts.ref)
    return PriorAuthStatus(**{**found.__dict__, "citation": citation(rt.follow_on["citation"])}) if found else None


def evaluate(orders: list[dict], record: PatientRecord, policies: PolicySet, today: date) -> list[Determination]:
    """One Determination per order, same order. Any resource type is tolerated: orders outside the
    ESI / stimulator / PVA families get an out-of-scope determination."""
    chart = Chart(record, today)
    decisions = priorauth.collect(record, orders)
    return [_safe_one(o if isinstance(o, dict) else {}, record, chart, decisions, policies, today) for o in orders]


def _safe_one(order: dict, record: PatientRecord, chart: Chart, decisions: list[priorauth.Decision],
              policies: PolicySet, today: date) -> Determination:
    try:
        return _evaluate_one(order, record, chart, decisions, policies, today)
    except MALFORMED:
        # An order whose elements have the wrong JSON types: say so rather than fail the hook call.
        ref = f"{order.get('resourceType')}/{order.get('id')}"
        facts = OrderFacts(ref, str(order.get("resourceType")), (), (), today, True, None, None, None, "unknown", (), "")
        det = _out_of_scope(facts, None, "Health plan")
        return Determination(**{**det.__dict__, "reason": UNREADABLE_REASON})
