"""The chart summary the EHR shows: what is on file for one patient, grouped the way a pain
physician reads it (problems, conservative therapy, scores, imaging, prior-authorization decisions,
notes, orders). Read straight from the EHR's own store."""

from __future__ import annotations

from dataclasses import dataclass, field

from cds_service.policy.chart import note_text
from sandbox.fhir import store

X12_CODE = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode"


def _text(concept: dict | None) -> str:
    concept = concept or {}
    coding = (concept.get("coding") or [{}])[0]
    label = concept.get("text") or coding.get("display") or coding.get("code") or ""
    code = coding.get("code")
    return f"{label} ({code})" if code and code not in label else label


def _when(resource: dict, *keys: str) -> str:
    for key in keys:
        value = resource.get(key)
        if isinstance(value, dict):
            value = f"{value.get('start', '')[:10]} – {value.get('end', '')[:10]}".strip(" –")
        if value:
            return str(value)[:25]
    return ""


@dataclass
class ChartSummary:
    patient: dict
    coverage: list[dict] = field(default_factory=list)
    rows: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # section → (when, what, detail)
    encounter: str | None = None


def _review(response: dict) -> str:
    for item in response.get("item") or []:
        for adj in item.get("adjudication") or []:
            for ext in adj.get("extension") or []:
                for sub in ext.get("extension") or []:
                    if sub.get("url") == X12_CODE:
                        coding = (sub.get("valueCodeableConcept") or {}).get("coding") or [{}]
                        return f"{coding[0].get('code')} {coding[0].get('display', '')}".strip()
    return response.get("outcome", "")


def summarize(db, pid: str) -> ChartSummary:
    with db.session() as s:
        patient = store.read(s, "Patient", pid)
        by_type = {t: store.candidates(s, t, pid) for t in (
            "Coverage", "Encounter", "Condition", "Procedure", "MedicationRequest", "Observation",
            "DiagnosticReport", "ClaimResponse", "Claim", "DocumentReference", "ServiceRequest")}
    out = ChartSummary(patient, coverage=by_type["Coverage"])
    current = [e for e in by_type["Encounter"] if e.get("status") == "in-progress"]
    out.encounter = current[0]["id"] if current else None
    rows = out.rows
    rows["Problems"] = [(_when(c, "onsetDateTime"), _text(c.get("code")), "") for c in by_type["Condition"]]
    rows["Therapy"] = [(_when(p, "performedDateTime", "performedPeriod"), _text(p.get("code")),
                        " ".join(n.get("text", "") for n in p.get("note") or [])) for p in by_type["Procedure"]]
    rows["Therapy"] += [(_when(m, "authoredOn"), _text(m.get("medicationCodeableConcept")), m.get("status", ""))
                        for m in by_type["MedicationRequest"]]
    rows["Scores"] = [(_when(o, "effectiveDateTime"), _text(o.get("code")),
                       str((o.get("valueQuantity") or {}).get("value", o.get("valueInteger", "")))) for o in by_type["Observation"]]
    rows["Imaging"] = [(_when(d, "effectiveDateTime"), _text(d.get("code")), d.get("conclusion", ""))
                       for d in by_type["DiagnosticReport"]]
    claims = {c["id"]: c for c in by_type["Claim"]}
    pa_rows, seen = [], set()
    for r in by_type["ClaimResponse"]:
        claim = claims.get(r.get("request", {}).get("reference", "").split("/")[-1], {})
        codes = ", ".join(c.get("code", "") for i in claim.get("item") or []
                          for c in (i.get("productOrService") or {}).get("coding") or [])
        # One decision, one row: the payer keeps its ClaimResponse and the app stores the copy it
        # received in the chart (Da Vinci PAS: the provider system records the response), so the
        # same decision (number, review action, date, codes) is on file twice here.
        number = r.get("preAuthRef") or next((i.get("value") for i in r.get("identifier") or ()), "")
        key = (number, _review(r), r.get("created", "")[:10], codes, r.get("disposition", ""))
        if key in seen:
            continue
        seen.add(key)
        period = r.get("preAuthPeriod") or {}
        valid = f" valid {period.get('start', '')} to {period.get('end', '')}" if period else ""
        note = " ".join(n.get("text", "") for n in r.get("processNote") or [])
        pa_rows.append((r.get("created", "")[:10], f"{_review(r)} · codes {codes or '?'}",
                        f"UTN {r.get('preAuthRef') or 'none'}{valid}. {note}".strip()))
    rows["Prior authorization"] = pa_rows
    rows["Notes"] = [(_when(d, "date"), d.get("description") or _text(d.get("type")), note_text(d)[:400])
                     for d in by_type["DocumentReference"]]
    rows["Orders"] = [(_when(o, "occurrenceDateTime", "authoredOn"), _text(o.get("code")), o.get("status", ""))
                      for o in by_type["ServiceRequest"]]
    for key in rows:
        rows[key].sort(key=lambda r: r[0], reverse=True)
    return out


