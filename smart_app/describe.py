"""Words for the screens and the packet: who the patient is (the banner: name, birth date, sex,
MRN, from the launch patient; SMART App Launch 2.2 ``need_patient_banner``), what the order is
(procedure, level, laterality, date of service — never a resource id), and each coverage, prior
authorization and requirement state in plain words (CRD 2.0.1 coverage-information codes are for
machines; ARCHITECTURE.md "screens name the patient and say things in words").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from cds_service.policy.model import Citation, Determination, PAState, RequirementResult, Status

MRN_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
SEX = {"female": "Female", "male": "Male", "other": "Other", "unknown": "Sex unknown"}
STATUS = {Status.UNMET: "Missing", Status.UNKNOWN: "Cannot tell", Status.MET: "Done"}
COVERED = {"covered": "Covered", "not-covered": "Not covered",
           "conditional": "Covered only if the missing items below are documented"}
PA_NEEDED = {"no-auth": "No prior authorization needed", "auth-needed": "Prior authorization needed",
             "satisfied": "Prior authorization on file",
             "conditional": "Prior authorization rules unknown for this plan: ask the plan"}
PA_STATE = {PAState.NEEDED: "Not yet requested", PAState.PENDED: "Requested; the payer has pended it",
            PAState.NON_AFFIRMED: "The payer did not affirm it", PAState.EXPIRED: "The decision on file has expired",
            PAState.PARTIAL: "The decision on file does not cover every code of the order",
            PAState.UNKNOWN: "Cannot tell (prior-authorization records not readable)"}
KIND = {"Procedure": "therapy or procedure", "Observation": "score or finding", "Condition": "diagnosis",
        "ImagingStudy": "imaging study", "DiagnosticReport": "report", "ServiceRequest": "this order",
        "DocumentReference": "note", "MedicationStatement": "medication", "MedicationRequest": "medication",
        "ClaimResponse": "payer decision", "QuestionnaireResponse": "form", "Encounter": "visit"}
SIDES = ("bilateral", "left", "right", "midline")
_UCUM_ANNOTATION = re.compile(r"\s*=\s*([-\d.]+)\s*\{[^}]*\}")    # "= 7 {score}" → ": 7"
# the policy's conservative-care modality keys (fhir_profiles/policies ``modalities_vs``) that are not words
MODALITIES = {"pt": "physical therapy", "cbt": "cognitive behavioural therapy", "cpm": "chronic pain management"}
_MODALITY = re.compile(r"\b(" + "|".join(MODALITIES) + r")\b")       # the policy's modality codes
_REPEAT = re.compile(r"(\b[^()]{12,}?)\s+\1\b")                   # "X, y X, y" → "X, y"


@dataclass(frozen=True)
class Banner:
    name: str
    birth_date: str
    sex: str
    mrn: str
    patient_id: str


def day(value: str | date | None) -> str:
    """A date as people read it ("14 Dec 2026"); the text as given when it is not a date."""
    if not value:
        return "date not recorded"
    try:
        d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{d.day} {d:%b %Y}"


def patient_name(patient: dict | None) -> str:
    names = (patient or {}).get("name") or ()
    name = next((n for n in names if n.get("use") in (None, "official", "usual")), names[0] if names else {})
    text = " ".join([*(name.get("given") or ()), name.get("family", "")]).strip()
    return text or name.get("text") or "Name not recorded"


def mrn(patient: dict | None) -> str:
    ids = (patient or {}).get("identifier") or ()
    for ident in ids:
        if any(c.get("code") == "MR" for c in (ident.get("type") or {}).get("coding") or ()):
            return ident.get("value", "")
    return next((i.get("value", "") for i in ids if i.get("value")), "not recorded")


def banner(patient: dict | None) -> Banner | None:
    if not patient:
        return None
    return Banner(name=patient_name(patient), birth_date=day(patient.get("birthDate")),
                  sex=SEX.get(patient.get("gender", ""), "Sex not recorded"), mrn=mrn(patient),
                  patient_id=patient.get("id", ""))


def _laterality(order: dict) -> str:
    for site in order.get("bodySite") or ():
        words = " ".join([site.get("text", ""), *(c.get("display", "") for c in site.get("coding") or ())]).lower()
        side = next((s for s in SIDES if s in words), "")
        if side:
            return side
    return ""


def _level(order: dict) -> str:
    for site in order.get("bodySite") or ():
        text = site.get("text", "")
        for side in SIDES:
            text = re.sub(side, "", text, flags=re.I)
        if text.strip():
            return text.strip()
    levels = (order.get("quantityQuantity") or {}).get("value")
    return f"{levels} level{'s' if levels != 1 else ''}" if isinstance(levels, int) else ""


def procedure(order: dict, det: Determination | None = None) -> str:
    code = order.get("code") or {}
    coding = next((c for c in code.get("coding") or () if c.get("code")), {})
    label = code.get("text") or coding.get("display")
    number = coding.get("code") or (det.codes[0] if det and det.codes else "")
    if label and number and number not in label:
        return f"{label} ({number})"
    return label or (f"Procedure {number}" if number else "Procedure not named")


def service_date(order: dict, det: Determination | None = None) -> str:
    when = order.get("occurrenceDateTime") or (order.get("occurrencePeriod") or {}).get("start")
    return day(when or (det.service_date if det else None))


def order_words(order: dict, det: Determination | None = None) -> str:
    """"Transforaminal ESI, lumbar/sacral (64483), L4-L5, left, on 14 Dec 2026"."""
    parts = [procedure(order, det), _level(order), _laterality(order)]
    return ", ".join(p for p in parts if p) + f", on {service_date(order, det)}"


def pa_words(det: Determination) -> str:
    pa = det.prior_auth
    term = det.program.approval_term or "UTN"     # the program's own word: a plan's is not a UTN
    if det.pa_needed == "satisfied" and pa.utn:
        until = f", valid until {day(pa.expires)}" if pa.expires else ""
        return f"Prior authorization on file: {term} {pa.utn}{until}"
    text = PA_NEEDED.get(det.pa_needed or "", "")
    state = PA_STATE.get(pa.state) if det.pa_needed == "auth-needed" else None
    if state:
        text = f"{text} — {state.lower() if text else state}"
    if pa.utn and det.pa_needed != "satisfied":
        text += f" ({term} {pa.utn}{', expired ' + day(pa.expires) if pa.state is PAState.EXPIRED else ''})"
    return text


def reason(det: Determination) -> str:
    """The determination's reason without its list of open requirements (the page lists them)."""
    return clean(re.sub(r"\s*Documentation incomplete: .*$", "", det.reason or "", flags=re.S)).strip()


def cite(c: Citation | None) -> str:
    """Source and section once: many sources already end with their section."""
    if c is None:
        return ""
    words = c.source
    if c.section and c.section not in c.source:
        words += f" {c.section}"
    return words + ("" if c.confirmed else " (not yet confirmed)")


def clean(text: str) -> str:
    """A finding as the policy wrote it, for a person: UCUM annotations gone, modality codes in
    words, a phrase said once."""
    text = _UCUM_ANNOTATION.sub(r": \1", text or "")
    text = _MODALITY.sub(lambda m: MODALITIES[m.group(1)], text)
    while (shorter := _REPEAT.sub(r"\1", text)) != text:
        text = shorter
    return text


def evidence(r: RequirementResult) -> list[str]:
    """Each evidence item once, as "what (kind, date)", and not when the detail already says it all."""
    out: list[str] = []
    detail = clean(r.detail)
    for e in r.evidence:
        what = clean(e.display or "") or KIND.get(e.reference.split("/")[0], "record")
        line = f"{what} ({KIND.get(e.reference.split('/')[0], 'record')}, {day(e.date)})"
        if line not in out and not (what in detail and (e.date or "")[:10] in detail):
            out.append(line)
    return out


def by_urgency(requirements) -> tuple[list[RequirementResult], list[RequirementResult]]:
    """(open, met): unmet first, then unknown, each in the policy's order; met apart."""
    open_ = [r for r in requirements if r.status is Status.UNMET] + [r for r in requirements if r.status is Status.UNKNOWN]
    return open_, [r for r in requirements if r.status is Status.MET]
