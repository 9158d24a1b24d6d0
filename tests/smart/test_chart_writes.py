"""Which charts a transaction of the SMART app writes to (smart_app/chart_writes.py): the patients
its resources are about, through the elements FHIR R4 names them by, so that every writer of the
app (forms, DTR, PAS decisions, the PAS watch) makes the warm cache read those charts again."""

from __future__ import annotations

from smart_app.chart_writes import patients


def _tx(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": f"urn:uuid:{n}", "resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
                      for n, r in enumerate(resources)]}


def test_a_saved_form_writes_to_the_chart_of_its_subject():
    bundle = _tx({"resourceType": "QuestionnaireResponse", "status": "completed", "subject": {"reference": "Patient/pat-1"}},
                 {"resourceType": "DiagnosticReport", "status": "final", "subject": {"reference": "Patient/pat-1"}},
                 {"resourceType": "ServiceRequest", "id": "sr-1", "subject": {"reference": "Patient/pat-1"}})
    assert patients(bundle) == {"pat-1"}


def test_a_pas_decision_writes_to_the_chart_of_its_patient_named_by_an_absolute_reference():
    bundle = _tx({"resourceType": "Claim", "patient": {"reference": "https://ehr.example/fhir/Patient/pat-2"}},
                 {"resourceType": "ClaimResponse", "patient": {"reference": "Patient/pat-2"}},
                 {"resourceType": "Coverage", "beneficiary": {"reference": "Patient/pat-3"}})
    assert patients(bundle) == {"pat-2", "pat-3"}


def test_resources_about_no_patient_or_malformed_entries_name_none():
    bundle = _tx({"resourceType": "Organization", "name": "Clinic"},
                 {"resourceType": "Observation", "subject": {"reference": "Group/g-1"}},
                 {"resourceType": "Observation", "subject": "Patient/not-a-reference"})
    bundle["entry"].append("not an entry")
    assert patients(bundle) == set()
