"""Medical-necessity summary drafted from this patient's structured evidence (CMS WISeR guide v6.0
§6.2 documentation lists; domain.md §2.5 "medical necessity not shown", §5.3 cloned notes).

The draft is built only from coded facts in the record and the determination for this order and
visit: the order and its date, diagnoses with onset, each conservative therapy with its dates,
scale scores with dates, imaging, the criteria still open. Nothing is boilerplate: two visits with
different charts give different text, and the form refuses a text identical to a note on file.
"""

from __future__ import annotations

from datetime import date

from cds_service.clock import today_utc
from cds_service.policy.model import Status
from smart_app import describe


def _name(patient: dict | None) -> str:
    for n in (patient or {}).get("name") or ():
        given = " ".join(n.get("given") or ())
        if given or n.get("family"):
            return f"{given} {n.get('family', '')}".strip()
    return "The patient"


def _age(patient: dict | None, today: date) -> str:
    born = (patient or {}).get("birthDate")
    try:
        b = date.fromisoformat(born[:10])
    except (TypeError, ValueError):
        return ""
    return f", aged {today.year - b.year - ((today.month, today.day) < (b.month, b.day))},"


def _text(concept: dict | None) -> str:
    concept = concept or {}
    for c in concept.get("coding") or ():
        if c.get("display"):
            return c["display"]
    codes = [c.get("code") for c in concept.get("coding") or () if c.get("code")]
    return concept.get("text") or ", ".join(codes) or "unspecified"


def _when(res: dict, *keys: str) -> str:
    for key in keys:
        val = res.get(key)
        if isinstance(val, str):
            return val[:10]
        if isinstance(val, dict) and (val.get("start") or val.get("end")):
            return f"{(val.get('start') or '?')[:10]} to {(val.get('end') or 'ongoing')[:10]}"
    return "date not recorded"


def _facts(record) -> list[str]:
    lines = []
    for c in record.of("Condition"):
        lines.append(f"Diagnosis: {_text(c.get('code'))} (onset {_when(c, 'onsetDateTime', 'recordedDate')}).")
    for p in record.of("Procedure"):
        outcome = _text(p.get("outcome")) if p.get("outcome") else ""
        lines.append(f"Procedure/therapy: {_text(p.get('code'))}, {_when(p, 'performedPeriod', 'performedDateTime')}"
                     + (f"; response: {outcome}" if outcome else "") + ".")
    for m in record.of("MedicationStatement") + record.of("MedicationRequest"):
        lines.append(f"Medication: {_text(m.get('medicationCodeableConcept'))}, "
                     f"{_when(m, 'effectivePeriod', 'effectiveDateTime', 'authoredOn')}.")
    for o in record.of("Observation"):
        value = o.get("valueQuantity", {}).get("value", o.get("valueInteger", o.get("valueBoolean")))
        if value is not None:
            lines.append(f"{_text(o.get('code'))}: {value} on {_when(o, 'effectiveDateTime', 'issued')}.")
    for r in record.of("DiagnosticReport"):
        lines.append(f"Imaging: {_text(r.get('code'))} on {_when(r, 'effectiveDateTime', 'issued')}"
                     + (f": {r['conclusion']}" if r.get("conclusion") else "") + ".")
    return sorted(set(lines), key=lines.index)


def generate(wl, det, context, today: date | None = None) -> str:
    today = today or today_utc()
    order = wl.order(det.order_ref) or {}
    visit = " at this visit" if context.encounter else ""   # the visit, not its resource id
    head = (f"{_name(wl.patient)}{_age(wl.patient, today)} is being evaluated on {today.isoformat()}{visit} for "
            f"{describe.order_words(order, det)} (requested {_when(order, 'authoredOn', 'occurrenceDateTime')}"
            f"; codes {', '.join(det.codes) or 'none'}) under {det.program.label}.")
    met = [r for r in det.requirements if r.status is Status.MET]
    open_ = [r for r in det.requirements if r.status is not Status.MET]
    parts = [head, "", "Documented findings:"]
    parts += [f"- {line}" for line in _facts(wl.record)] or ["- none coded in the chart"]
    if met:
        parts += ["", "Coverage criteria documented:"]
        parts += [f"- {r.title}: {describe.clean(r.detail)} ({describe.cite(r.citation)})" for r in met]
    if open_:
        parts += ["", "Criteria not yet documented:"] + [f"- {r.title}: {describe.clean(r.detail)}" for r in open_]
    parts += ["", "Clinical rationale (edit for this visit): "]
    return "\n".join(parts)
