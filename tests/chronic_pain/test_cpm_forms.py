"""The cpm-time and cpm-careplan Questionnaires (G3002/G3003, domain.md §4) through the SMART app's own
form parser and SDC template extractor: what the clinician types becomes FHIR that the month logic
then counts (an Observation of minutes; a CarePlan with Goal, strengths Observation and activities)."""

from __future__ import annotations

import itertools
import json
from datetime import date

from werkzeug.datastructures import MultiDict

from cds_service.policy.cpm import month_status
from cds_service.policy.loader import load_policies
from cds_service.policy.model import Status
from cds_service.policy.record import PatientRecord
from smart_app import forms
from smart_app.context import LaunchContext
from smart_app.extract import extract
from smart_app.validate import invalid_resources
from smart_app.worklist import Worklist
from tests.support import cpm_chart as mk

TODAY = date(2026, 11, 20)
# The launch context the app gives a patient-level form: no order, no encounter in the launch.
POLICIES = load_policies()
ENV = forms.environment(Worklist(patient=None, orders=[], determinations=[], record=PatientRecord()), None,
                        LaunchContext(patient="p1", fhir_user="Practitioner/dr1"), POLICIES)


def fill(qid: str, answers: dict) -> list[dict]:
    """Parse, build the QuestionnaireResponse, extract; then give ids as a FHIR server's transaction
    would, rewriting the urn:uuid references between the extracted resources."""
    questionnaire = forms.get(qid)
    parsed, errors = forms.parse(questionnaire, MultiDict({f"item.{k}": v for k, v in answers.items()}), ENV)
    assert errors == {}
    qr = forms.response(questionnaire, parsed, ENV)
    extracted = extract(questionnaire, qr, ENV)
    counter = itertools.count(1)
    ids = {url: f"{res['resourceType']}/{qid}-{next(counter)}" for url, res, *_ in extracted}
    out = []
    for url, res, *_ in extracted:
        text = json.dumps(res)
        for old, new in ids.items():
            text = text.replace(old, new)
        res = json.loads(text)
        res["id"] = ids[url].split("/")[1]
        out.append(res)
    assert invalid_resources(out) == []
    return out


def test_time_form_records_minutes_the_month_counts(policies):
    base = [mk.condition("2025-06-01"), mk.visit("2026-09-02T09:00:00"), mk.scale("2026-11-03"), *mk.care_plan()]
    added = fill("cpm-time", {"date": "2026-11-19", "minutes": "47", "activity": "Medication review"})
    assert added[0]["valueQuantity"] == {"unit": "min", "system": "http://unitsofmeasure.org", "code": "min",
                                         "value": 47}
    status = month_status(PatientRecord.from_resources(base + added), policies, TODAY)
    assert (status.minutes, status.g3002, status.g3003, status.billable) == (47, 1, 1, True)


def test_care_plan_form_fills_every_required_element(policies):
    base = [mk.condition("2025-06-01"), mk.visit("2026-09-02T09:00:00"), mk.scale("2026-11-03"),
            mk.minutes(1, "2026-11-03", 30)]
    before = month_status(PatientRecord.from_resources(base), policies, TODAY)
    assert before.requirements[2].status is Status.UNMET
    added = fill("cpm-careplan", {"start": "2026-11-20", "strengths": "Motivated", "goal": "Walk the dog",
                                  "outcome": "30 minutes with pain at or below 4/10", "needs": "PT home program"})
    assert sorted(r["resourceType"] for r in added) == ["CarePlan", "Goal", "Observation"]
    after = month_status(PatientRecord.from_resources(base + added), policies, TODAY)
    assert after.requirements[2].status is Status.MET and after.billable


def test_forms_refuse_bad_minutes():
    questionnaire = forms.get("cpm-time")
    _, errors = forms.parse(questionnaire, MultiDict({"item.date": "2026-11-19", "item.minutes": "0",
                                                      "item.activity": "x"}), ENV)
    assert "minutes" in errors


def test_a_patient_level_form_names_the_launch_encounter_else_the_patient_as_its_context():
    """DTR qr-context of a form opened without an order (the CPM forms): the visit when the app was
    launched in one, else the patient; never an order, and no order variables leak into extraction."""
    questionnaire = forms.get("cpm-time")
    answers, _ = forms.parse(questionnaire, MultiDict({"item.date": "2026-11-19", "item.minutes": "20",
                                                       "item.activity": "Care plan review"}), ENV)
    context = next(e for e in forms.response(questionnaire, answers, ENV)["extension"] if e["url"] == forms.QR_CONTEXT)
    assert context["valueReference"] == {"reference": "Patient/p1"}
    in_visit = forms.environment(Worklist(patient=None, orders=[], determinations=[], record=PatientRecord()), None,
                                 LaunchContext(patient="p1", encounter="enc-9"), POLICIES)
    qr = forms.response(questionnaire, answers, in_visit)
    assert qr["extension"][0]["valueReference"] == {"reference": "Encounter/enc-9"}
    assert (in_visit["orderRef"], in_visit["orderCodes"], in_visit["summary"]) == ({}, [], "")
    minutes = extract(questionnaire, qr, in_visit)[0][1]
    assert minutes["encounter"] == {"reference": "Encounter/enc-9"} and minutes["subject"] == {"reference": "Patient/p1"}
