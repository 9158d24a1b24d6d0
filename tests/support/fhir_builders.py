"""Small builders for synthetic FHIR R4 patients (no copy-pasted JSON): each returns one resource,
and :class:`Patient` collects them into a PatientRecord. Dates are relative to a date of service.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta

from cds_service.policy.chart import ATTESTATION_SYSTEM
from cds_service.policy.record import PatientRecord, TenantDefaults

CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
SOPT = "https://nahdo.org/sopt"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
PAYER_SYSTEM = "http://painpa.org/fhir/sid/example-payer"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
DOS = date(2026, 12, 10)
TODAY = date(2026, 11, 29)
_ids = itertools.count(1)


def reset_ids() -> None:
    """Restart resource numbering so a scenario builds byte-identical resources in any test order."""
    global _ids
    _ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def iso(d: date) -> str:
    return d.isoformat()


def coverage(sopt: str | None, payer: str | None = None, *, cid: str = "cov-1", name: str = "") -> dict:
    res: dict = {"resourceType": "Coverage", "id": cid, "status": "active", "beneficiary": {"reference": "Patient/pt-1"}}
    if sopt is not None:
        res["type"] = {"coding": [{"system": SOPT, "code": sopt}]}
    payor: dict = {"display": name or "Plan"}
    if payer:
        payor["identifier"] = {"system": PAYER_SYSTEM, "value": payer}
    res["payor"] = [payor]
    return res


def location(state: str | None, pos: str | None, *, lid: str = "loc-1") -> dict:
    res: dict = {"resourceType": "Location", "id": lid}
    if state:
        res["address"] = {"state": state}
    if pos:
        res["type"] = [{"coding": [{"system": POS, "code": pos}]}]
    return res


def order(*codes: str, sid: str = "sr-1", dos: date | None = DOS, loc: str | None = "loc-1", reason: str | None = None,
          cov: str | None = "cov-1", modifiers: tuple[str, ...] = ()) -> dict:
    res: dict = {"resourceType": "ServiceRequest", "id": sid, "status": "draft", "intent": "order",
                 "code": {"coding": [{"system": CPT, "code": c} for c in codes] + [{"system": CPT, "code": m} for m in modifiers]},
                 "subject": {"reference": "Patient/pt-1"}, "authoredOn": iso(TODAY),
                 "requester": {"reference": "Practitioner/dr-1"}}
    if dos:
        res["occurrenceDateTime"] = iso(dos)
    if loc:
        res["locationReference"] = [{"reference": f"Location/{loc}"}]
    if reason:
        res["reasonCode"] = [{"coding": [{"system": ICD, "code": reason}]}]
    if cov:
        res["insurance"] = [{"reference": f"Coverage/{cov}"}]
    return res


def condition(code: str, onset: date | None, *, status: str = "active") -> dict:
    res: dict = {"resourceType": "Condition", "id": _id("cond"), "code": {"coding": [{"system": ICD, "code": code}]},
                 "clinicalStatus": {"coding": [{"code": status}]}, "subject": {"reference": "Patient/pt-1"}}
    if onset:
        res["onsetDateTime"] = iso(onset)
    return res


def procedure(code: str, when: date, *, system: str = CPT, status: str = "completed") -> dict:
    return {"resourceType": "Procedure", "id": _id("proc"), "status": status, "subject": {"reference": "Patient/pt-1"},
            "code": {"coding": [{"system": system, "code": code}]}, "performedDateTime": iso(when)}


def medication(rxcui: str, name: str, start: date, days: int) -> dict:
    return {"resourceType": "MedicationRequest", "id": _id("med"), "status": "active", "intent": "order",
            "subject": {"reference": "Patient/pt-1"}, "authoredOn": iso(start),
            "medicationCodeableConcept": {"coding": [{"system": RX, "code": rxcui, "display": name}], "text": name},
            "dispenseRequest": {"validityPeriod": {"start": iso(start), "end": iso(start + timedelta(days=days))}}}


def score(loinc: str, value: float, when: date) -> dict:
    return {"resourceType": "Observation", "id": _id("obs"), "status": "final", "subject": {"reference": "Patient/pt-1"},
            "code": {"coding": [{"system": LOINC, "code": loinc}]}, "effectiveDateTime": iso(when),
            "valueQuantity": {"value": value, "unit": "{score}"}}


def attest(code: str, when: date) -> dict:
    return {"resourceType": "Observation", "id": _id("att"), "status": "final", "subject": {"reference": "Patient/pt-1"},
            "code": {"coding": [{"system": ATTESTATION_SYSTEM, "code": code}]}, "effectiveDateTime": iso(when),
            "valueBoolean": True}


def imaging(modality: str, when: date, text: str = "MRI lumbar spine") -> dict:
    return {"resourceType": "ImagingStudy", "id": _id("img"), "status": "available", "subject": {"reference": "Patient/pt-1"},
            "started": iso(when), "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": modality}],
            "description": text}


def note(text: str, when: date, encounter: str) -> dict:
    return {"resourceType": "DocumentReference", "id": _id("doc"), "status": "current", "subject": {"reference": "Patient/pt-1"},
            "type": {"text": "Procedure note"}, "date": f"{iso(when)}T10:00:00Z",
            "context": {"encounter": [{"reference": f"Encounter/{encounter}"}]},
            "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}}]}


def decision(codes: tuple[str, ...], action: str | None, decided: date, *, utn: str = "JFA00000000001",
             end: date | None = None, outcome: str = "complete", cr_id: str | None = None) -> list[dict]:
    """A PAS-shaped ClaimResponse (use = preauthorization) and its request Claim; ``action`` is the X12
    306 review-action code (A1 certified, A3 not certified, A4 pended) or None (outcome only)."""
    cr_id = cr_id or _id("cr")
    claim = {"resourceType": "Claim", "id": f"claim-{cr_id}", "status": "active", "use": "preauthorization",
             "patient": {"reference": "Patient/pt-1"},
             "item": [{"sequence": i + 1, "productOrService": {"coding": [{"system": CPT, "code": c}]}} for i, c in enumerate(codes)]}
    items = []
    for i in range(len(codes)):
        item: dict = {"itemSequence": i + 1}
        if action:
            item["adjudication"] = [{"category": {"coding": [{"code": "submitted"}]}, "extension": [{
                "url": PAS + "extension-reviewAction", "extension": [
                    {"url": "number", "valueString": utn},
                    {"url": PAS + "extension-reviewActionCode", "valueCodeableConcept": {"coding": [
                        {"system": "https://codesystem.x12.org/005010/306", "code": action}]}}]}]}]
        items.append(item)
    cr: dict = {"resourceType": "ClaimResponse", "id": cr_id, "status": "active", "use": "preauthorization",
                "patient": {"reference": "Patient/pt-1"}, "created": f"{iso(decided)}T12:00:00Z", "outcome": outcome,
                "request": {"reference": f"Claim/claim-{cr_id}"}, "item": items}
    if action is None:
        cr["preAuthRef"] = utn
    if end:
        cr["preAuthPeriod"] = {"start": iso(decided), "end": iso(end)}
    return [cr, claim]


@dataclass
class Patient:
    """A synthetic patient: resources, failed query types and tenant defaults."""

    resources: list[dict] = field(default_factory=lambda: [{"resourceType": "Patient", "id": "pt-1"}])
    incomplete: set[str] = field(default_factory=set)
    defaults: TenantDefaults = field(default_factory=TenantDefaults)

    def add(self, *resources: dict | list[dict]) -> Patient:
        for r in resources:
            self.resources.extend(r if isinstance(r, list) else [r])
        return self

    def drop(self, rtype: str) -> Patient:
        self.resources = [r for r in self.resources if r["resourceType"] != rtype]
        return self

    def record(self) -> PatientRecord:
        return PatientRecord.from_resources(self.resources, incomplete=self.incomplete, defaults=self.defaults)


def days(n: int) -> date:
    """The date ``n`` days before the date of service."""
    return DOS - timedelta(days=n)


# Charts that satisfy every enforceable requirement of a family (used as the "met" baseline).
def esi_ready(p: Patient) -> Patient:
    return p.add(condition("M54.16", days(120)), procedure("97110", days(70)), procedure("97110", days(40)),
                 procedure("97110", days(10)), medication("5640", "ibuprofen", days(60), 45),
                 score("72514-3", 7, days(5)), imaging("MR", days(60)))


def scs_ready(p: Patient) -> Patient:
    return p.add(condition("M96.1", days(400)), medication("25480", "gabapentin", days(300), 90),
                 procedure("97110", days(200)), procedure("90791", days(60)),
                 attest("multidisciplinary-evaluation", days(50)), attest("trial-functional-improvement", days(20)),
                 attest("percutaneous-leads-not-candidate", days(15)), score("72514-3", 8, days(35)),
                 procedure("63650", days(30)), score("72514-3", 3, days(25)))


def pva_ready(p: Patient) -> Patient:
    return p.add(condition("M80.08XA", days(30)), imaging("MR", days(20), "MRI thoracic spine"),
                 score("72514-3", 8, days(3)), attest("fracture-progression", days(3)), procedure("77080", days(10)))
