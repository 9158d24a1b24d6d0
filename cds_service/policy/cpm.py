"""Chronic pain management, HCPCS G3002 / G3003 (domain.md §4): this calendar month's status.

Pure: the record, the policy data (``fhir_profiles/policies/cpm.json`` and its ValueSets) and
``today`` come in; no clock, no I/O. A patient qualifies with pain lasting longer than 3 months;
the month is billable when the initial face-to-face visit is done, a validated pain scale was
administered this month, a person-centered CarePlan holds its four elements, and the physician/QHP
documented at least 30 minutes this month (G3002), each further full 15 minutes adding one G3003.

Dates are read as written (the first 10 characters of a FHIR date/dateTime): clinical time is local
time, and a month boundary must not move with the server's time zone.
"""

from __future__ import annotations

import calendar
import html
import re
from dataclasses import dataclass, replace
from datetime import date

from cds_service.policy.chart import text_of
from cds_service.policy.cpm_time import (
    DONE_OBS,
    codings,
    day_of,
    encounter_minutes,
    has_code,
    linked,
    minutes_of,
    who_of,
)
from cds_service.policy.loader import PolicySet
from cds_service.policy.model import Citation, Evidence, RequirementResult, Status
from cds_service.policy.record import PatientRecord

IDS = ("cpm.initial-visit", "cpm.pain-scale", "cpm.care-plan", "cpm.time")
_INACTIVE = {"resolved", "inactive", "remission"}
_REFUTED = {"refuted", "entered-in-error"}
# The resource types each requirement reads: an unmet result over a type the EHR did not return is
# "unknown", never "missing" (record.incomplete).
_READS = dict(zip(IDS, (("Encounter", "Procedure"), ("Observation",), ("CarePlan", "Goal", "Observation"),
                        ("Observation", "Procedure", "Encounter")), strict=True))


@dataclass(frozen=True)
class CpmStatus:
    month: date                           # first day of the calendar month assessed
    days_left: int                        # days after today left in the month (0 on its last day)
    condition: Evidence                   # the qualifying chronic pain condition
    qualified_on: date | None             # first day pain had lasted > 3 months (None: onset unknown)
    minutes: int                          # counted minutes this month
    unattributed_minutes: int             # recorded without a physician/QHP performer: not counted
    g3002: int
    g3003: int
    minutes_to_next: int                  # to the next billable unit
    requirements: tuple[RequirementResult, ...]

    @property
    def billable(self) -> bool:
        return all(r.status is Status.MET for r in self.requirements)

    @property
    def missing(self) -> tuple[RequirementResult, ...]:
        return tuple(r for r in self.requirements if r.status is not Status.MET)


def add_months(d: date, n: int) -> date:
    """Calendar months, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def month_bounds(today: date) -> tuple[date, date]:
    return today.replace(day=1), today.replace(day=calendar.monthrange(today.year, today.month)[1])


def billable_units(minutes: int, g3002_minutes: int = 30, g3003_minutes: int = 15) -> tuple[int, int]:
    """(G3002 units, G3003 units): 30 minutes met or exceeded for G3002, then each further full 15."""
    if minutes < g3002_minutes:
        return 0, 0
    return 1, (minutes - g3002_minutes) // g3003_minutes


def _cite(section: dict) -> Citation:
    c = section["citation"]
    return Citation(c["source"], c.get("section", ""), c.get("url", ""), c["last_verified"], c["status"] == "confirmed")


def _ev(res: dict, when: str | None, cc=None) -> Evidence:
    coding = next(iter(codings(cc)), {})
    return Evidence(f"{res.get('resourceType')}/{res.get('id')}", when,
                    f"{coding.get('system')}|{coding.get('code')}" if coding else None,
                    text_of(coding.get("display")) or text_of((cc or {}).get("text")) or None)


def _qualifying(record: PatientRecord, policies: PolicySet, rules: dict, today: date):
    """The condition that makes this a chronic pain patient, and the day it started to qualify."""
    chronic, pain = policies.vs(rules["chronic_pain_vs"]), policies.vs(rules["pain_conditions_vs"])
    best = None
    for cond in record.of("Condition"):
        status = {c.get("code") for c in codings(cond.get("clinicalStatus"))}
        verification = {c.get("code") for c in codings(cond.get("verificationStatus"))}
        if status & _INACTIVE or verification & _REFUTED:
            continue
        coded = codings(cond.get("code"))
        is_chronic = chronic.match(coded) is not None
        if not is_chronic and pain.match(coded) is None:
            continue
        # A pain code without an onset has lasted at least since it was recorded; a chronic-pain
        # code says "chronic" itself, so it qualifies even with no date at all.
        onset = day_of(cond.get("onsetDateTime") or (cond.get("onsetPeriod") or {}).get("start")) or (
            None if is_chronic else day_of(cond.get("recordedDate")))
        if onset is None and not is_chronic:
            continue
        # "Longer than 3 months": the day after onset + 3 calendar months is the first qualifying day.
        since = None if onset is None else date.fromordinal(add_months(onset, rules["min_months"]).toordinal() + 1)
        if since is not None and since > today:
            continue
        candidate = (since or date.min, cond)
        if best is None or candidate[0] < best[0]:
            best = candidate
    if best is None:
        return None
    since, cond = best
    return cond, (None if since == date.min else since)


def _initial_visit(record: PatientRecord, policies: PolicySet, rules: dict, cond: dict, first: date, today: date):
    reasons = (policies.vs(rules["_chronic_vs"]), policies.vs(rules["_pain_vs"]))
    for enc in sorted(record.of("Encounter"), key=lambda e: (e.get("period") or {}).get("start") or ""):
        period = enc.get("period") or {}
        day = day_of(period.get("start"))
        if enc.get("status") != "finished" or day is None or day > today:
            continue
        if (enc.get("class") or {}).get("code") not in rules["encounter_classes"]:
            continue
        minutes = encounter_minutes(enc)
        who = [(p.get("individual") or {}).get("reference", "") for p in enc.get("participant") or () if isinstance(p, dict)]
        staff_only = bool(who) and who_of(record, who, rules["_performer"], policies) == "staff"
        if minutes >= rules["min_minutes"] and linked(enc, cond, reasons) and not staff_only:
            return day, _ev(enc, period.get("start"), next(iter(enc.get("type") or ()), None))
    prior = policies.vs(rules["prior_billing_vs"])
    for proc in record.of("Procedure"):
        day = day_of(proc.get("performedDateTime") or (proc.get("performedPeriod") or {}).get("start"))
        if proc.get("status") == "completed" and day and day < first and prior.match(codings(proc.get("code"))):
            return day, _ev(proc, str(day), proc.get("code"))
    return None, None


def _resolve(record: PatientRecord, owner: dict, ref: dict | None) -> dict | None:
    raw = (ref or {}).get("reference") or ""
    if raw.startswith("#"):
        return next((c for c in owner.get("contained") or () if c.get("id") == raw[1:]), None)
    return record.resolve(raw)


def _narrative(plan: dict) -> str:
    """What the plan says in words: description, narrative (XHTML tags dropped), notes."""
    div = re.sub(r"<[^>]+>", " ", text_of((plan.get("text") or {}).get("div")))
    notes = " ".join(text_of(n.get("text")) for n in plan.get("note") or () if isinstance(n, dict))
    return f"{text_of(plan.get('description'))} {html.unescape(div)} {notes}".lower()


def _element_ok(record: PatientRecord, plan: dict, check: dict) -> bool:
    if check["element"] == "narrative":
        text = _narrative(plan)
        return any(k in text for k in check["text_keywords"])
    values = plan.get(check["element"]) or []
    for value in values if isinstance(values, list) else [values]:
        target = _resolve(record, plan, value) if check.get("resolve") else value
        if not isinstance(target, dict):
            continue
        if check.get("resolve") and target.get("resourceType") != check["resolve"]:
            continue
        if check.get("code") and not has_code(target.get("code"), check["code"]):
            continue
        if check.get("require") and not target.get(check["require"]):
            continue
        return True
    return False


def _care_plan(record: PatientRecord, rules: dict, first: date):
    """The active care plan with the most required elements, and the elements it lacks."""
    best = None
    for plan in record.of("CarePlan"):
        end = day_of((plan.get("period") or {}).get("end"))
        if plan.get("status") != "active" or (end is not None and end < first):
            continue
        missing = tuple(e["label"] for e in rules["elements"]
                        if not any(_element_ok(record, plan, c) for c in e["any"]))
        cpm = any(has_code(cat, c) for cat in plan.get("category") or () for c in rules["categories"])
        key = (len(missing), not cpm)
        if best is None or key < best[0]:
            best = (key, plan, missing)
    return (None, tuple(e["label"] for e in rules["elements"])) if best is None else (best[1], best[2])


def _req(rid: str, title: str, ok: bool, detail: str, fix: str, section: dict, ev=(), form=None) -> RequirementResult:
    return RequirementResult(rid, title, Status.MET if ok else Status.UNMET, detail, "" if ok else fix,
                             _cite(section), tuple(e for e in ev if e), form=form)


def month_status(record: PatientRecord, policies: PolicySet, today: date) -> CpmStatus | None:
    """This calendar month's G3002/G3003 status, or ``None`` when the patient does not qualify."""
    doc = policies.doc("cpm", today)
    if doc is None:
        return None
    rules = doc.data
    found = _qualifying(record, policies, rules["chronic"], today)
    if found is None:
        return None
    cond, since = found
    first, last = month_bounds(today)
    iv_rules = {**rules["initial_visit"], "_chronic_vs": rules["chronic"]["chronic_pain_vs"],
                "_pain_vs": rules["chronic"]["pain_conditions_vs"], "_performer": rules["time"]["performer"]}
    iv_day, iv_ev = _initial_visit(record, policies, iv_rules, cond, first, today)

    t = rules["time"]
    count_from = max(first, since or first)
    if not t["count_before_initial_visit"] and iv_day is not None:
        count_from = max(count_from, iv_day)
    minutes = unattributed = staff = 0
    time_ev = []
    reasons = (policies.vs(iv_rules["_chronic_vs"]), policies.vs(iv_rules["_pain_vs"]))
    # An encounter whose minutes a CPM Observation or Procedure already logs is not counted again.
    logged = {(r.get("encounter") or {}).get("reference") or "" for r in (*record.of("Observation"), *record.of("Procedure"))
              if minutes_of(r, t, policies, record, cond, reasons, set())[1] is not None}
    for res in (*record.of("Observation"), *record.of("Procedure"), *record.of("Encounter")):
        day, mins, who = minutes_of(res, t, policies, record, cond, reasons, logged)
        if day is None or mins is None or not count_from <= day <= min(last, today):
            continue
        if who in ("qhp", "unknown"):
            minutes += mins
            time_ev.append(_ev(res, str(day), res.get("code") or next(iter(res.get("type") or ()), None)))
        elif who == "staff":
            staff += mins
        else:
            unattributed += mins
    g3002, g3003 = billable_units(minutes, t["g3002_minutes"], t["g3003_minutes"])
    to_next = (t["g3002_minutes"] - minutes) if not g3002 else t["g3003_minutes"] - (
        (minutes - t["g3002_minutes"]) % t["g3003_minutes"])

    scales = [policies.vs(v) for v in rules["pain_scale"]["scales_vs"]]
    scale_ev = None
    for obs in record.of("Observation"):
        day = day_of(obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("start"))
        if (obs.get("status") in DONE_OBS and day and first <= day <= today
                and any(vs.match(codings(obs.get("code"))) for vs in scales)
                and any(k.startswith("value") for k in obs)):
            scale_ev = _ev(obs, str(day), obs.get("code"))
            break
    plan, plan_missing = _care_plan(record, rules["care_plan"], first)
    month_name = f"{first:%B %Y}"
    unattr = f" ({unattributed} more minutes have no physician/QHP performer and do not count)" if unattributed else ""
    if staff:
        unattr += f" ({staff} minutes of clinical staff time do not count)"
    reqs = (
        _req(IDS[0], "Initial face-to-face visit (≥ 30 min, in person)", iv_day is not None,
             f"Initial visit on {iv_day}" if iv_day else "No in-person visit of 30 minutes or more for the chronic pain on file",
             "Hold (or record) the initiating in-person visit of at least 30 minutes for the chronic pain",
             rules["initial_visit"], (iv_ev,)),
        _req(IDS[1], "Validated pain scale this month", scale_ev is not None,
             f"Scale recorded {scale_ev.date}" if scale_ev else f"No validated pain or function scale in {month_name}",
             "Administer a validated pain scale (e.g. NRS, PEG, ODI) and record the score", rules["pain_scale"],
             (scale_ev,)),
        _req(IDS[2], "Person-centered care plan", plan is not None and not plan_missing,
             ("Care plan complete" if not plan_missing else f"Care plan lacks {', '.join(plan_missing)}")
             if plan else "No active care plan on file",
             "Record the care plan with the patient's strengths, goals, clinical needs and desired outcomes",
             rules["care_plan"], (_ev(plan, (plan.get("period") or {}).get("start"), None),) if plan else (),
             form=rules.get("form_care_plan")),
        _req(IDS[3], f"≥ {t['g3002_minutes']} minutes this month", g3002 == 1,
             f"{minutes} minutes documented in {month_name}{unattr}",
             f"Document {max(0, t['g3002_minutes'] - minutes)} more minutes of chronic pain management by the physician/QHP",
             t, tuple(time_ev), form=rules.get("form_time")),
    )
    reqs = tuple(replace(r, status=Status.UNKNOWN, detail=f"Could not read {', '.join(unread)} from the EHR")
                 if r.status is Status.UNMET and (unread := [t for t in _READS[r.id] if t in record.incomplete])
                 else r for r in reqs)
    return CpmStatus(first, (last - today).days, _ev(cond, cond.get("onsetDateTime") or cond.get("recordedDate"),
                     cond.get("code")), since, minutes, unattributed, g3002, g3003, to_next, reqs)
