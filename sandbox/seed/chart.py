"""A small builder of FHIR R4 resources for one synthetic patient (resources as the FHIR R4 spec
and US Core shape them; ids are ``{patient}-{n}`` so a reseed gives the same ids).

Each method appends one resource and returns it; ``bundle()`` wraps them in a transaction Bundle
of PUTs, loaded through the FHIR server's own transaction endpoint.
"""

from __future__ import annotations

import base64
from datetime import date, timedelta

from sandbox.codes import CPT, DCM, ICD10, LOINC, RXNORM, SOPT, cc
from sandbox.payer.decision import claim_and_response
from sandbox.seed.practice import PAYERS

ATTESTATION = "http://painpa.org/fhir/CodeSystem/painpa-attestation"
_COND_CAT = {"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis"}
_ACTIVE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}


class Chart:
    def __init__(self, pid: str, today: date) -> None:
        self.pid = pid
        self.today = today
        self.resources: list[dict] = []

    def day(self, offset: int) -> str:
        return (self.today + timedelta(days=offset)).isoformat()

    def _add(self, rtype: str, body: dict) -> dict:
        resource = {"resourceType": rtype, "id": f"{self.pid}-{len(self.resources)}", **body}
        self.resources.append(resource)
        return resource

    @property
    def ref(self) -> dict:
        return {"reference": f"Patient/{self.pid}"}

    def patient(self, family: str, given: str, gender: str, age: int, state: str, city: str) -> dict:
        resource = {"resourceType": "Patient", "id": self.pid, "active": True,
                    "identifier": [{"system": "urn:painpa:sandbox:mrn", "value": f"MRN-{self.pid.upper()}"}],
                    "name": [{"family": family, "given": [given]}], "gender": gender,
                    "birthDate": self.day(-age * 365 - 40),
                    "address": [{"city": city, "state": state, "country": "US"}]}
        self.resources.append(resource)
        return resource

    def coverage(self, sopt: str, label: str, payor: str, member: str) -> dict:
        name, system, value = PAYERS[payor]
        return self._add("Coverage", {
            "status": "active", "type": cc(SOPT, sopt, label), "subscriberId": member,
            "beneficiary": self.ref, "relationship": cc("http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                                                        "self", "Self"),
            "period": {"start": self.day(-400)}, "payor": [{"reference": f"Organization/{payor}", "display": name,
                                                            "identifier": {"system": system, "value": value}}],
        })

    def encounter(self, offset: int = 0) -> dict:
        return self._add("Encounter", {
            "status": "in-progress" if offset == 0 else "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
            "subject": self.ref, "period": {"start": self.day(offset)},
            "participant": [{"individual": {"reference": "Practitioner/sbx-dr-lee"}}],
        })

    def condition(self, icd: str, onset: int) -> dict:
        return self._add("Condition", {
            "clinicalStatus": _ACTIVE, "category": [{"coding": [_COND_CAT]}], "code": cc(ICD10, icd),
            "subject": self.ref, "onsetDateTime": self.day(onset), "recordedDate": self.day(onset),
        })

    def procedure(self, system: str, code: str, start: int, end: int | None = None, note: str | None = None,
                  display: str | None = None) -> dict:
        body: dict = {"status": "completed", "code": cc(system, code, display), "subject": self.ref}
        if end is None:
            body["performedDateTime"] = self.day(start)
        else:
            body["performedPeriod"] = {"start": self.day(start), "end": self.day(end)}
        if note:
            body["note"] = [{"text": note}]
        return self._add("Procedure", body)

    def physical_therapy(self, start: int, weeks: int) -> None:
        self.procedure(CPT, "97161", start)
        self.procedure(CPT, "97110", start, start + weeks * 7, note=f"{weeks} weeks of physical therapy, 2x weekly")

    def medication(self, rxnorm: str, start: int, end: int | None = None) -> dict:
        body = {"status": "completed" if end is not None and end < 0 else "active", "intent": "order",
                "medicationCodeableConcept": cc(RXNORM, rxnorm), "subject": self.ref, "authoredOn": self.day(start),
                "dosageInstruction": [{"text": "as directed"}]}
        if end is not None:
            body["dispenseRequest"] = {"validityPeriod": {"start": self.day(start), "end": self.day(end)}}
        return self._add("MedicationRequest", body)

    def score(self, loinc: str, value: float, offset: int) -> dict:
        return self._add("Observation", {
            "status": "final", "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                                         "code": "survey"}]}],
            "code": cc(LOINC, loinc), "subject": self.ref, "effectiveDateTime": self.day(offset),
            "valueQuantity": {"value": value, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"},
        })

    def attest(self, code: str, text: str, offset: int) -> dict:
        """A documented fact painpa's policy reads as an attestation Observation (the shape the SMART
        app writes; CodeSystem fhir_profiles/valuesets/painpa-attestation.json)."""
        return self._add("Observation", {
            "status": "final", "code": cc(ATTESTATION, code, text), "subject": self.ref,
            "effectiveDateTime": self.day(offset), "valueBoolean": True, "note": [{"text": text}],
            "performer": [{"reference": "Practitioner/sbx-dr-lee"}],
        })

    def imaging(self, modality: str, region: str, offset: int, conclusion: str) -> dict:
        study = self._add("ImagingStudy", {
            "status": "available", "subject": self.ref, "started": self.day(offset),
            "modality": [{"system": DCM, "code": modality}], "description": f"{modality} {region}",
        })
        return self._add("DiagnosticReport", {
            "status": "final", "category": [cc("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology")],
            "code": cc(LOINC, "24531-6" if "lumbar" in region.lower() else "36643-5", f"{modality} {region}"),
            "subject": self.ref, "effectiveDateTime": self.day(offset), "issued": self.day(offset) + "T12:00:00Z",
            "imagingStudy": [{"reference": f"ImagingStudy/{study['id']}"}], "conclusion": conclusion,
        })

    def note(self, title: str, text: str, offset: int) -> dict:
        return self._add("DocumentReference", {
            "status": "current", "type": cc(LOINC, "11506-3", "Progress note"),
            "category": [cc("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                            "clinical-note", "Clinical Note")],
            "subject": self.ref, "date": self.day(offset) + "T10:00:00Z", "description": title,
            "content": [{"attachment": {"contentType": "text/plain", "title": title,
                                        "data": base64.b64encode(text.encode()).decode()}}],
        })

    def prior_auth(self, codes: list[str], action: str, offset: int, *, coverage: dict, utn: str | None,
                   reason: str | None = None, valid_days: int = 120) -> None:
        claim, response = claim_and_response(
            patient=self.pid, claim_id=f"{self.pid}-pa{len(self.resources)}", codes=codes, action=action,
            decided=self.today + timedelta(days=offset), coverage_ref=f"Coverage/{coverage['id']}", utn=utn,
            reason=reason, valid_days=valid_days, insurer=coverage["payor"][0]["reference"],
        )
        self.resources += [claim, response]

    def bundle(self) -> dict:
        return {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r,
             "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in self.resources]}
