"""Who provided chronic pain management time, and how many minutes one record holds (HCPCS G3002 /
G3003 descriptors: time personally provided by a physician or other qualified health professional;
domain.md §4). Read from what EHRs hold: Encounter ``length`` / ``period`` with its participants,
CPM Procedures' ``performedPeriod``, painpa's minutes Observations; the physician/QHP or clinical
staff question from ``Practitioner.qualification`` and ``PractitionerRole.code``.

Dates are read as written (the first 10 characters): clinical time is local time.
"""

from __future__ import annotations

from datetime import date, datetime

from cds_service.policy.loader import PolicySet
from cds_service.policy.record import PatientRecord

DONE_OBS = {"final", "amended", "corrected"}


def day_of(raw) -> date | None:
    if not isinstance(raw, str) or len(raw) < 10:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def datetime_of(raw) -> datetime | None:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) and "T" in raw else None
    except ValueError:
        return None


def codings(cc) -> list[dict]:
    return [c for c in (cc or {}).get("coding") or () if isinstance(c, dict)]


def has_code(cc, system_code: str) -> bool:
    system, _, code = system_code.partition("|")
    return any(c.get("system") == system and c.get("code") == code for c in codings(cc))


def who_of(record: PatientRecord, refs: list[str], rules: dict, policies: PolicySet) -> str:
    """``qhp`` when a performer is a physician/QHP by Practitioner.qualification or PractitionerRole.code,
    ``staff`` when the performers are known to be clinical staff only, ``unknown`` when a Practitioner
    performer's qualification is not on file (painpa counts it), ``none`` without a practitioner."""
    qhp, staff = policies.vs(rules["qhp_vs"]), policies.vs(rules["staff_vs"])
    kinds = set()
    for ref in refs:
        if ref.split("/")[-2:-1] not in (["Practitioner"], ["PractitionerRole"]):
            continue
        res = record.resolve(ref) or {}
        coded = [c for q in res.get("qualification") or () if isinstance(q, dict) for c in codings(q.get("code"))]
        coded += [c for cc in res.get("code") or () for c in codings(cc)]
        if res.get("resourceType") == "PractitionerRole":
            who = record.resolve((res.get("practitioner") or {}).get("reference")) or {}
            coded += [c for q in who.get("qualification") or () if isinstance(q, dict) for c in codings(q.get("code"))]
        kinds.add("qhp" if qhp.match(coded) else "staff" if staff.match(coded) else "unknown")
    return next((k for k in ("qhp", "unknown", "staff") if k in kinds), "none")


def linked(res: dict, cond: dict, reasons: tuple) -> bool:
    """The encounter is for the chronic pain: its reason or diagnosis names the condition or a code of it."""
    refs = [r.get("reference") or "" for r in res.get("reasonReference") or () if isinstance(r, dict)]
    refs += [(d.get("condition") or {}).get("reference") or "" for d in res.get("diagnosis") or () if isinstance(d, dict)]
    return any(r.endswith(f"Condition/{cond.get('id')}") for r in refs) or any(
        vs.match(codings(rc)) for rc in res.get("reasonCode") or () for vs in reasons)


def encounter_minutes(enc: dict) -> float:
    length, period = enc.get("length") or {}, enc.get("period") or {}
    if isinstance(length.get("value"), int | float):
        return length["value"] * (60 if (length.get("code") or length.get("unit")) in ("h", "hour", "hours") else 1)
    start, end = datetime_of(period.get("start")), datetime_of(period.get("end"))
    return (end - start).total_seconds() / 60 if start and end and end >= start else 0


def minutes_of(res: dict, rules: dict, policies: PolicySet, record: PatientRecord, cond: dict,
                reasons: tuple, logged: set[str]) -> tuple[date | None, int | None, str]:
    """(day, minutes, who) of one time entry — who as in :func:`_who` — or (None, None, "none")."""
    if res.get("resourceType") == "Encounter":
        period = res.get("period") or {}
        if (res.get("status") != "finished" or (res.get("class") or {}).get("code") not in rules["encounter_classes"]
                or f"Encounter/{res.get('id')}" in logged or not linked(res, cond, reasons)):
            return None, None, "none"
        minutes = int(encounter_minutes(res))
        who = [(p.get("individual") or {}).get("reference", "") for p in res.get("participant") or () if isinstance(p, dict)]
        if not any(who):     # nobody's time: not a time entry (the visit itself is judged as the initial visit)
            return None, None, "none"
        return day_of(period.get("start")), minutes or None, who_of(record, who, rules["performer"], policies)
    if res.get("resourceType") == "Observation":
        if res.get("status") not in DONE_OBS or not has_code(res.get("code"), rules["observation_code"]):
            return None, None, "none"
        q = res.get("valueQuantity") or {}
        value, unit = q.get("value"), (q.get("code") or q.get("unit") or "min").lower()
        if not isinstance(value, int | float) or value < 0 or unit not in ("min", "h"):
            return None, None, "none"
        minutes = int(value * 60) if unit == "h" else int(value)
        day = day_of(res.get("effectiveDateTime") or (res.get("effectivePeriod") or {}).get("start"))
        who = [p.get("reference", "") for p in res.get("performer") or ()]
    elif res.get("resourceType") == "Procedure":
        if res.get("status") != "completed" or policies.vs(rules["procedure_vs"]).match(
                codings(res.get("code"))) is None:
            return None, None, "none"
        period = res.get("performedPeriod") or {}
        start, end = datetime_of(period.get("start")), datetime_of(period.get("end"))
        if start is None or end is None or end < start:
            return None, None, "none"
        minutes, day = int((end - start).total_seconds() // 60), day_of(period.get("start"))
        who = [(p.get("actor") or {}).get("reference", "") for p in res.get("performer") or ()]
    else:
        return None, None, "none"
    return day, minutes, who_of(record, who, rules["performer"], policies)
