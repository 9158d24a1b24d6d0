"""A chronic pain management (G3002/G3003) patient's chart as FHIR resources, one builder per
resource (the chronic pain Condition, the initial visit, minutes of care, a pain scale, the care plan
with goal and strengths), a whole chart for "this month", and the prefetch the CPM services ask for.
The CPM golden inputs (tests/chronic_pain/make_cpm_cases.py) and service tests are built from these."""

from __future__ import annotations

from datetime import timedelta

from cds_service.chronic_pain.queries import QUERIES

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CPM = "http://painpa.org/fhir/CodeSystem/painpa-cpm"


def condition(onset, code="M54.16", status="active"):
    return {"resourceType": "Condition", "id": "lbp", "subject": {"reference": "Patient/p1"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": status}]},
            "code": {"coding": [{"system": ICD, "code": code}]}, **({"onsetDateTime": onset} if onset else {})}


def visit(start, minutes=40):
    h, m = divmod(int(start[11:13]) * 60 + int(start[14:16]) + minutes, 60)
    return {"resourceType": "Encounter", "id": "iv", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/p1"}, "period": {"start": start, "end": f"{start[:11]}{h:02d}:{m:02d}:00"},
            "reasonReference": [{"reference": "Condition/lbp"}]}


def minutes(i, when, value, performer=True):
    return {"resourceType": "Observation", "id": f"t{i}", "status": "final",
            "code": {"coding": [{"system": CPM, "code": "cpm-minutes"}]}, "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": when, "valueQuantity": {"value": value, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"},
            **({"performer": [{"reference": "Practitioner/dr1"}]} if performer else {})}


def scale(when):
    return {"resourceType": "Observation", "id": "nrs", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": when, "valueInteger": 6}


def care_plan(strengths=True):
    return [
        {"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active", "subject": {"reference": "Patient/p1"},
         "description": {"text": "Walk the dog every day"},
         "target": [{"detailString": "Walk 30 minutes with pain at or below 4/10"}]},
        {"resourceType": "Observation", "id": "str1", "status": "final", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": CPM, "code": "cpm-strengths"}]}, "valueString": "Motivated; supportive spouse"},
        {"resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan",
         "category": [{"coding": [{"system": CPM, "code": "cpm-care-plan"}]}], "subject": {"reference": "Patient/p1"},
         "period": {"start": "2026-09-01"}, "addresses": [{"reference": "Condition/lbp"}],
         "goal": [{"reference": "Goal/g1"}],
         **({"supportingInfo": [{"reference": "Observation/str1"}]} if strengths else {})},
    ]


_minutes = minutes  # chart()'s keyword argument ``minutes`` hides the builder of that name


def chart(today, *, minutes=(25, 10), chronic=True) -> list[dict]:
    """A chronic (or, with ``chronic=False``, acute) pain patient whose month ``today`` falls in holds
    ``minutes`` of care logged on its first day."""
    day = today.replace(day=1)
    onset = (today - timedelta(days=400 if chronic else 20)).isoformat()
    res = [{"resourceType": "Patient", "id": "p1"}, condition(onset), visit("2026-01-05T09:00:00"),
           scale(day.isoformat()), *care_plan()]
    res[2]["period"] = {"start": f"{(today - timedelta(days=200)).isoformat()}T09:00:00",
                        "end": f"{(today - timedelta(days=200)).isoformat()}T09:45:00"}
    return res + [_minutes(i, day.isoformat(), m) for i, m in enumerate(minutes)]


def prefetch(resources: list[dict]) -> dict:
    """Every prefetch key of the CPM services, answered from ``resources``."""
    out = {}
    for q in QUERIES:
        hits = [r for r in resources if r["resourceType"] == q.resource_type]
        if q.key == "patient":
            out["patient"] = hits[0]
        else:
            out[q.key] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in hits]}
    return out
