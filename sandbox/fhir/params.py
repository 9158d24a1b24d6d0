"""Search parameters this server supports, per resource type (FHIR R4 §3.1.1 Search; the parameter
names and paths follow each resource's "Search Parameters" table in R4 4.0.1).

Each parameter is (kind, paths): ``paths`` are dotted element paths, ``[x]`` choices written out.
The CapabilityStatement is generated from this table, so what is advertised is what is implemented.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    kind: str                      # token | reference | date | string | uri
    paths: tuple[str, ...]
    target: str | None = None      # for reference params: the only type allowed (patient → Patient)


def _p(kind: str, *paths: str, target: str | None = None) -> Param:
    return Param(kind, paths, target)


_SUBJECT = {"patient": _p("reference", "subject", target="Patient"), "subject": _p("reference", "subject")}

PARAMS: dict[str, dict[str, Param]] = {
    "Patient": {"name": _p("string", "name.family", "name.given", "name.text"),
                "family": _p("string", "name.family"), "given": _p("string", "name.given"),
                "gender": _p("token", "gender"),
                "identifier": _p("token", "identifier"), "birthdate": _p("date", "birthDate"),
                "address-state": _p("string", "address.state")},
    "Practitioner": {"name": _p("string", "name.family", "name.given"), "identifier": _p("token", "identifier")},
    "Organization": {"name": _p("string", "name"), "identifier": _p("token", "identifier")},
    "Endpoint": {"status": _p("token", "status"), "connection-type": _p("token", "connectionType"),
                 "organization": _p("reference", "managingOrganization")},
    "Location": {"name": _p("string", "name"), "address-state": _p("string", "address.state"),
                 "type": _p("token", "type")},
    "Encounter": {**_SUBJECT, "date": _p("date", "period"), "status": _p("token", "status"),
                  "class": _p("token", "class")},
    "Coverage": {"patient": _p("reference", "beneficiary", target="Patient"),
                 "beneficiary": _p("reference", "beneficiary"), "status": _p("token", "status"),
                 "type": _p("token", "type"), "payor": _p("reference", "payor")},
    "Condition": {**_SUBJECT, "code": _p("token", "code"), "clinical-status": _p("token", "clinicalStatus"),
                  "category": _p("token", "category"),
                  "onset-date": _p("date", "onsetDateTime", "onsetPeriod"), "recorded-date": _p("date", "recordedDate")},
    "Procedure": {**_SUBJECT, "code": _p("token", "code"), "status": _p("token", "status"),
                  "date": _p("date", "performedDateTime", "performedPeriod"), "category": _p("token", "category")},
    "Observation": {**_SUBJECT, "code": _p("token", "code"), "status": _p("token", "status"),
                    "category": _p("token", "category"),
                    "date": _p("date", "effectiveDateTime", "effectivePeriod", "effectiveInstant")},
    "DiagnosticReport": {**_SUBJECT, "code": _p("token", "code"), "status": _p("token", "status"),
                         "category": _p("token", "category"), "date": _p("date", "effectiveDateTime", "effectivePeriod")},
    "ImagingStudy": {**_SUBJECT, "status": _p("token", "status"), "started": _p("date", "started"),
                     "modality": _p("token", "modality")},
    "DocumentReference": {**_SUBJECT, "type": _p("token", "type"), "category": _p("token", "category"),
                          "status": _p("token", "status"), "date": _p("date", "date")},
    "MedicationRequest": {**_SUBJECT, "code": _p("token", "medicationCodeableConcept"),
                          "status": _p("token", "status"), "intent": _p("token", "intent"),
                          "authoredon": _p("date", "authoredOn"), "medication": _p("reference", "medicationReference")},
    "MedicationStatement": {**_SUBJECT, "code": _p("token", "medicationCodeableConcept"),
                            "status": _p("token", "status"),
                            "effective": _p("date", "effectiveDateTime", "effectivePeriod")},
    "ServiceRequest": {**_SUBJECT, "code": _p("token", "code"), "status": _p("token", "status"),
                       "intent": _p("token", "intent"), "category": _p("token", "category"),
                       "authored": _p("date", "authoredOn"), "encounter": _p("reference", "encounter")},
    "CarePlan": {**_SUBJECT, "status": _p("token", "status"), "category": _p("token", "category"),
                 "date": _p("date", "period")},
    "Goal": {**_SUBJECT, "lifecycle-status": _p("token", "lifecycleStatus"), "start-date": _p("date", "startDate")},
    "Claim": {"patient": _p("reference", "patient", target="Patient"), "use": _p("token", "use"),
              "status": _p("token", "status"), "created": _p("date", "created"),
              "identifier": _p("token", "identifier"), "insurer": _p("reference", "insurer"),
              "provider": _p("reference", "provider")},
    "ClaimResponse": {"patient": _p("reference", "patient", target="Patient"), "use": _p("token", "use"),
                      "status": _p("token", "status"), "created": _p("date", "created"),
                      "identifier": _p("token", "identifier"), "request": _p("reference", "request"),
                      "outcome": _p("token", "outcome"), "insurer": _p("reference", "insurer"),
                      "requestor": _p("reference", "requestor")},
    "Questionnaire": {"url": _p("uri", "url"), "status": _p("token", "status"), "name": _p("string", "name")},
    "QuestionnaireResponse": {**_SUBJECT, "status": _p("token", "status"), "authored": _p("date", "authored"),
                              "questionnaire": _p("uri", "questionnaire")},
    "Task": {"patient": _p("reference", "for", target="Patient"), "status": _p("token", "status"),
             "code": _p("token", "code")},
    "Provenance": {"patient": _p("reference", "patient", target="Patient"), "target": _p("reference", "target")},
}

COMMON: dict[str, Param] = {"_id": _p("token", "id"), "_lastUpdated": _p("date", "meta.lastUpdated")}

# Elements whose Patient reference puts a resource in that patient's compartment (indexed in SQL).
COMPARTMENT_PATHS = ("subject", "patient", "beneficiary", "for")


def lookup(resource_type: str, name: str) -> Param | None:
    return COMMON.get(name) or PARAMS.get(resource_type, {}).get(name)


def values(resource: dict, path: str) -> list:
    """All values at a dotted path, lists flattened (a tiny subset of FHIRPath)."""
    current: list = [resource]
    for part in path.split("."):
        nxt: list = []
        for item in current:
            if isinstance(item, dict) and part in item:
                value = item[part]
                nxt.extend(value if isinstance(value, list) else [value])
        current = nxt
    return current


def compartment_patient(resource: dict) -> str | None:
    if resource.get("resourceType") == "Patient":
        return resource.get("id")
    for path in COMPARTMENT_PATHS:
        for ref in values(resource, path):
            target = ref.get("reference", "") if isinstance(ref, dict) else ""
            parts = target.split("/")
            if len(parts) >= 2 and parts[-2] == "Patient":
                return parts[-1]
    return None
