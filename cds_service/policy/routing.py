"""Which program governs an order (ARCHITECTURE.md determination table; domain.md §7 "Applicability
gate"; CMS WISeR guide v6.0 §1.5-§1.6):

1. Traditional Medicare: each PA program in the data, in order (WISeR, then OPD PA), applies when the
   order has one of its PA codes, the date of service is in its window, the setting/modifiers are not
   excluded (inpatient, ED, ET) and its state / setting list matches. When the state or setting that
   would decide is unknown, the answer is ``conditional`` with ``info-needed = location`` rather than a
   guess. Otherwise: LCD documentation only (``no-auth``).
2. Medicare Advantage, commercial or unclassified coverage: the plan pack whose payer identifier
   matches and that configures the order's family; otherwise "unknown plan" (conditional). MA is never
   routed to WISeR (domain.md §1.6).
3. No Coverage because the EHR's Coverage query failed (``PatientRecord.incomplete``): unknown plan
   with ``unread = ("Coverage",)``, conditional with a reason saying so, never "no rules configured".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_service.policy.loader import PolicyDoc, PolicySet
from cds_service.policy.model import Citation, Program, ProgramKind
from cds_service.policy.orders import OrderFacts


def citation(data: dict | None) -> Citation | None:
    if not data:
        return None
    return Citation(source=data["source"], section=data.get("section", ""), url=data.get("url", ""),
                    last_verified=data.get("last_verified", ""),
                    confirmed=data.get("status") in ("confirmed", "confirmed-secondary"))


@dataclass(frozen=True)
class Route:
    program: Program
    pa_codes: tuple[str, ...] = ()
    associated: tuple[str, ...] = ()
    validity_days: int = 120
    utn_length: int | None = None
    pack: PolicyDoc | None = None
    info_needed: tuple[str, ...] = ()
    reason: str = ""
    notes: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()      # record types whose failed query leaves the program unknown
    follow_on: dict | None = None     # the program carries a done trial's decision over to the permanent implant
    outside: str = ""                 # why each Medicare PA program configured for the family does not apply


def _in_window(window: dict, when: date) -> bool:
    return date.fromisoformat(window["start"]) <= when and (
        "end" not in window or when <= date.fromisoformat(window["end"]))


def _approval(data: dict) -> dict:
    """The program's or plan's own word for the approval, its validity and the claim's fate without it."""
    approval = data.get("approval") or {}
    return {"approval_term": approval.get("term", ""), "validity_days": data.get("validity_days"),
            "without_approval": approval.get("without", "")}


def family_policy(family: PolicyDoc, state: str | None) -> dict:
    """The LCD/NCD that governs the family in this state (the catch-all entry has no states)."""
    fallback = family.data["policies"][-1]
    for entry in family.data["policies"]:
        if state and state in entry.get("states", ()):
            return entry
        if "states" not in entry:
            fallback = entry
    return fallback


_PLACES = {"office": "an office", "home": "the home", "hopd": "a hospital outpatient department",
           "asc": "an ambulatory surgical center", "inpatient": "an inpatient stay", "ed": "an emergency department",
           "other": "another place of service"}


def _why_not(prog: dict, spec: dict, facts: OrderFacts, policies: PolicySet, pa_codes: tuple[str, ...]) -> str | None:
    """Why this Medicare PA program does not govern the order ("" when it does; None when the state or
    place of service that would decide is unknown)."""
    if not pa_codes:
        listed = ", ".join(sorted(policies.vs(spec["pa_codes"]).codes()))
        return f"{', '.join(facts.codes)} is not on its list ({listed})"
    if not _in_window(prog["window"], facts.service_date):
        return "the date of service is outside its dates"
    if off := set(facts.modifiers) & set(prog.get("excluded_modifiers", ())):
        return f"the {', '.join(sorted(off))} modifier takes the order out of it"
    if facts.setting in prog.get("excluded_settings", ()):
        return f"{_PLACES[facts.setting]} is excluded"
    if "settings" in prog and facts.setting not in prog["settings"]:
        return None if facts.setting is None else (
            f"it applies only in {' or '.join(_PLACES[s] for s in prog['settings'])}, not {_PLACES[facts.setting]}")
    if "states" in prog and facts.state not in prog["states"]:
        return None if facts.state is None else f"it applies only in {', '.join(prog['states'])}"
    return ""


def _medicare(facts: OrderFacts, family: PolicyDoc, policies: PolicySet, programs: PolicyDoc) -> Route:
    unresolved: list[tuple[dict, str]] = []
    notes: list[str] = []
    outside: list[str] = []
    for prog in programs.data["programs"]:
        spec = prog["families"].get(family.id)
        if not spec or facts.coverage_kind not in prog["coverage_kinds"]:
            continue
        if spec.get("suspended_codes"):
            off = [c for c in facts.codes if policies.vs(spec["suspended_codes"]).contains(None, c)]
            if off:
                notes.append(f"{', '.join(off)}: {spec.get('suspended_status', 'suspended')}")
        pa_vs = policies.vs(spec["pa_codes"])
        pa_codes = tuple(c for c in facts.codes if pa_vs.contains(None, c))
        why = _why_not(prog, spec, facts, policies, pa_codes)
        if why is None:
            unresolved.append((prog, "place of service" if "settings" in prog and facts.setting is None else "service state"))
            continue
        if why:
            outside.append(f"{prog['label']}: {why}")
            continue
        associated = ()
        if spec.get("associated_codes"):
            assoc = policies.vs(spec["associated_codes"]).codes()
            associated = tuple(sorted(c for c in assoc if not pa_vs.contains(None, c)))
        where = f" ({facts.state})" if "states" in prog and facts.state else ""
        program = Program(ProgramKind(prog["kind"]), prog["id"], prog["label"] + where,
                          citation(spec.get("citation") or prog["citation"]), **_approval(prog))
        return Route(program, pa_codes, associated, prog["validity_days"], prog.get("utn_length"), notes=tuple(notes),
                     follow_on=spec.get("trial_follow_on"))
    lcd = programs.data["lcd"]
    policy = family_policy(family, facts.state)
    program = Program(ProgramKind.LCD, "lcd", policy.get("label") or lcd["label"], citation(policy["citation"]))
    if unresolved:
        names = "; ".join(f"{p['label']} depends on the {what}" for p, what in unresolved)
        return Route(program, info_needed=("location",), notes=tuple(notes),
                     reason=f"Prior authorization undetermined: {names}, which the order does not give.")
    return Route(program, notes=tuple(notes), outside="; ".join(outside))


def route(facts: OrderFacts, family: PolicyDoc, policies: PolicySet, programs: PolicyDoc | None) -> Route:
    if facts.coverage_kind == "medicare-ffs" and programs is not None:
        return _medicare(facts, family, policies, programs)
    pack = policies.pack_for(facts.payer_ids, facts.service_date)
    kinds = pack.data["payer"].get("coverage_kinds") if pack else None
    if pack and family.id in pack.data["families"] and (not kinds or facts.coverage_kind in (*kinds, "unknown")):
        spec = pack.data["families"][family.id]
        pa_codes = ()
        if spec.get("pa_codes"):
            pa_codes = tuple(c for c in facts.codes if policies.vs(spec["pa_codes"]).contains(None, c))
        program = Program(ProgramKind.PLAN_PACK, pack.id, pack.data["payer"]["name"], citation(spec["citation"]),
                          **_approval(pack.data))
        return Route(program, pa_codes, validity_days=pack.data["validity_days"], pack=pack)
    if facts.coverage is None and facts.coverage_unread:
        # The Coverage query failed: "no rules for this plan" or "no coverage" would both be guesses.
        program = Program(ProgramKind.UNKNOWN_PLAN, "coverage-unread", "Coverage not returned by the EHR")
        return Route(program, info_needed=("OTH",), unread=("Coverage",),
                     reason="Could not verify coverage: the EHR did not return the patient's Coverage, so which "
                            "payer's rules apply is unknown; prior authorization and documentation requirements "
                            "are unknown, and nothing was found unmet.")
    if facts.coverage is None:
        program = Program(ProgramKind.UNKNOWN_PLAN, "unknown-plan", "No coverage on file")
        return Route(program, info_needed=("OTH",),
                     reason="No active Coverage on file: painpa cannot tell which payer's rules apply.")
    payer = facts.payer_name or (facts.payer_ids[0][1] if facts.payer_ids else "this plan")
    why = ("no policy pack configured for this payer" if not pack
           else f"the {pack.data['payer']['name']} pack does not configure {family.data['title'].lower()}")
    program = Program(ProgramKind.UNKNOWN_PLAN, "unknown-plan", payer)
    return Route(program, info_needed=("OTH",),
                 reason=f"Coverage rules for {payer} are not configured in painpa ({why}); "
                        "check the plan's prior-authorization list and criteria.")
