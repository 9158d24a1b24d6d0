"""The sandbox EHR answers every prefetch template painpa's discovery advertises (CDS Hooks 2.0
§Prefetch; CC-4, CC-5), including the patient's ServiceRequests that carry earlier orders'
``satisfied-pa-id``, both as prefetch and as the FHIR search painpa runs when prefetch lacks it."""

from __future__ import annotations

from cds_service import state
from cds_service.fhir.queries import QUERIES, prefetch_templates
from sandbox.ehr import hookreq
from sandbox.fhir import store
from sandbox.setup import ensure_ready

PATIENT = "tx-esi-fix"


def _signed(sid: str, patient: str) -> dict:
    return {"resourceType": "ServiceRequest", "id": sid, "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{patient}"},
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "64483"}]}}


def test_every_discovery_template_is_answered_including_service_requests(app, client, token):
    ensure_ready(app)
    db = state.of(app).db
    with db.session() as s:
        store.put(s, _signed("sr-earlier-1", PATIENT))
        store.put(s, _signed("sr-other-patient", "nj-esi-denied"))
    context = {"patientId": PATIENT, "userId": "Practitioner/sbx-dr-lee"}
    with app.app_context():
        prefetch = hookreq.fill_prefetch(db, prefetch_templates(), context, "http://127.0.0.1:8080/fhir")
    assert set(prefetch) == {q.key for q in QUERIES}
    bundle = prefetch["serviceRequests"]
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["sr-earlier-1"]

    # The same search over HTTP, with a patient-scoped token like the hook's fhirAuthorization.
    resp = client.get(f"/fhir/ServiceRequest?patient={PATIENT}", headers=token("patient/*.rs", patient=PATIENT))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert [e["resource"]["id"] for e in resp.get_json()["entry"]] == ["sr-earlier-1"]
