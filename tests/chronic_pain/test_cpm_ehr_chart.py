"""G3002/G3003 from a chart as an EHR writes it (domain.md §4; HCPCS G3002/G3003 descriptors): US Core
Condition, Practitioners with their qualifications, ambulatory and virtual Encounters with minutes, a US
Core CarePlan (category assess-plan) with Goals and a narrative, an NRS by LOINC — and not one painpa
code. Minutes count only when a physician/QHP provided them; clinical staff time never does."""

from __future__ import annotations

from datetime import date

from cds_service.policy.cpm import month_status
from cds_service.policy.model import Status
from cds_service.policy.record import PatientRecord

TODAY = date(2026, 11, 24)
V2 = "http://terminology.hl7.org/CodeSystem/v2-0360"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
PAINPA = "painpa.org"


def _practitioner(pid: str, degree: str) -> dict:
    return {"resourceType": "Practitioner", "id": pid, "name": [{"family": pid.title()}],
            "qualification": [{"code": {"coding": [{"system": V2, "code": degree}]}}]}


def _encounter(eid: str, cls: str, start: str, *, minutes: int | None = None, end: str | None = None,
               who: str = "Practitioner/dr-lee") -> dict:
    enc = {"resourceType": "Encounter", "id": eid, "status": "finished", "class": {"system": ACT, "code": cls},
           "subject": {"reference": "Patient/p1"}, "period": {"start": start, **({"end": end} if end else {})},
           "participant": [{"individual": {"reference": who}}],
           "reasonCode": [{"coding": [{"system": ICD, "code": "G89.4", "display": "Chronic pain syndrome"}]}]}
    if minutes is not None:
        enc["length"] = {"value": minutes, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}
    return enc


def ehr_chart() -> list[dict]:
    return [
        {"resourceType": "Patient", "id": "p1"},
        {"resourceType": "Condition", "id": "cps", "subject": {"reference": "Patient/p1"},
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
         "code": {"coding": [{"system": ICD, "code": "G89.4"}], "text": "Chronic pain syndrome"}, "onsetDateTime": "2025-03-01"},
        _practitioner("dr-lee", "MD"), _practitioner("rn-kim", "RN"),
        # The initiating visit: in person, 45 minutes, with the physician (September).
        _encounter("e-initial", "AMB", "2026-09-15T09:00:00-05:00", end="2026-09-15T09:45:00-05:00"),
        # This month: 20 minutes in the office (length), 15 by video (period), 25 with the nurse.
        _encounter("e-nov-1", "AMB", "2026-11-03T10:00:00-06:00", minutes=20),
        _encounter("e-nov-2", "VR", "2026-11-17T16:00:00-06:00", end="2026-11-17T16:15:00-06:00"),
        _encounter("e-nov-rn", "AMB", "2026-11-18T11:00:00-06:00", minutes=25, who="Practitioner/rn-kim"),
        {"resourceType": "Observation", "id": "nrs", "status": "final",
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
         "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3", "display": "Pain severity - 0-10 verbal numeric rating"}]},
         "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-11-03T10:05:00-06:00", "valueInteger": 6},
        {"resourceType": "Goal", "id": "goal-walk", "lifecycleStatus": "active", "subject": {"reference": "Patient/p1"},
         "description": {"text": "Walk to the mailbox and back without stopping"},
         "target": [{"detailString": "By January, pain at or below 4/10 while walking 10 minutes"}]},
        {"resourceType": "CarePlan", "id": "cp-uscore", "status": "active", "intent": "plan",
         "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "code": "assess-plan"}]}],
         "subject": {"reference": "Patient/p1"}, "period": {"start": "2026-09-15"},
         "text": {"status": "additional", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>Strengths:</b> "
                  "retired teacher, walks daily, supportive daughter.</p><p><b>Needs:</b> sleep, mood screening, "
                  "medication review.</p><p><b>Desired outcomes:</b> garden again in spring.</p></div>"},
         "addresses": [{"reference": "Condition/cps"}], "goal": [{"reference": "Goal/goal-walk"}]},
    ]


def test_an_ehr_written_chart_is_read_without_painpa_codes(policies):
    resources = ehr_chart()
    assert not any(PAINPA in str(r) for r in resources)
    status = month_status(PatientRecord.from_resources(resources), policies, TODAY)
    assert status is not None
    by_id = {r.id: r for r in status.requirements}
    assert by_id["cpm.initial-visit"].status is Status.MET and "2026-09-15" in by_id["cpm.initial-visit"].detail
    assert by_id["cpm.pain-scale"].status is Status.MET
    assert by_id["cpm.care-plan"].status is Status.MET, by_id["cpm.care-plan"].detail
    assert status.minutes == 35 and (status.g3002, status.g3003) == (1, 0)
    assert by_id["cpm.time"].status is Status.MET
    assert "25 minutes of clinical staff time do not count" in by_id["cpm.time"].detail
    assert {e.reference for e in by_id["cpm.time"].evidence} == {"Encounter/e-nov-1", "Encounter/e-nov-2"}
    assert status.billable


def test_clinical_staff_minutes_never_reach_g3002(policies):
    resources = [r for r in ehr_chart() if r["id"] not in ("e-nov-1", "e-nov-2")]
    status = month_status(PatientRecord.from_resources(resources), policies, TODAY)
    assert status.minutes == 0 and status.g3002 == 0
    assert next(r for r in status.requirements if r.id == "cpm.time").status is Status.UNMET


def test_a_nurse_only_visit_is_not_the_initial_visit(policies):
    resources = ehr_chart()
    initial = next(r for r in resources if r["id"] == "e-initial")
    initial["participant"] = [{"individual": {"reference": "Practitioner/rn-kim"}}]
    status = month_status(PatientRecord.from_resources(resources), policies, TODAY)
    assert next(r for r in status.requirements if r.id == "cpm.initial-visit").status is Status.UNMET


def test_a_plan_narrative_without_strengths_still_lacks_them(policies):
    resources = ehr_chart()
    plan = next(r for r in resources if r["id"] == "cp-uscore")
    plan["text"]["div"] = plan["text"]["div"].replace("<b>Strengths:</b> retired teacher, walks daily, supportive daughter.", "")
    status = month_status(PatientRecord.from_resources(resources), policies, TODAY)
    care = next(r for r in status.requirements if r.id == "cpm.care-plan")
    assert care.status is Status.UNMET and "strengths" in care.detail

