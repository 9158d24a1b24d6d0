"""The chronic pain management CDS service (patient-view and encounter-start; G3002/G3003,
domain.md §4) over HTTP with a signed JWT (CC-9): one card for a chronic pain patient with this
month's status, none for a patient who does not qualify; data from prefetch or from a real FHIR
server process when prefetch lacks it."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime

import pytest

from cds_service import clients, state
from cds_service.app import create_app
from tests.support import jwt as tjwt
from tests.support.cpm_chart import chart, prefetch
from tests.support.procs import free_port, running

ISS = "https://ehr.example.org/cds-client"


@pytest.fixture(scope="module")
def key():
    return tjwt.make_key("ES384")


@pytest.fixture
def app(settings, key):
    app = create_app(settings)
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(key),
                       fhir_bases=["https://ehr.example.org/fhir"])
    yield app
    state.of(app).db.dispose()


def call(app, key, service: str, body: dict):
    path = f"/cds-services/{service}"
    token = tjwt.sign(key, ISS, state.of(app).settings.base_url + path)
    return app.test_client().post(path, data=json.dumps(body),
                                  headers={**tjwt.bearer(token), "Content-Type": "application/json"})


def body(hook: str, **extra) -> dict:
    return {"hook": hook, "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/dr1", "patientId": "p1"}, **extra}


def test_discovery_lists_the_cpm_services(app):
    services = {s["id"]: s for s in app.test_client().get("/cds-services").get_json()["services"]}
    assert services["painpa-cpm"]["hook"] == "patient-view"
    assert services["painpa-cpm-encounter"]["hook"] == "encounter-start"
    assert "{{context.patientId}}" in services["painpa-cpm"]["prefetch"]["carePlans"]


def test_patient_view_card_for_a_chronic_pain_patient(app, key):
    today = datetime.now(UTC).date()
    resp = call(app, key, "painpa-cpm", body("patient-view", prefetch=prefetch(chart(today))))
    assert resp.status_code == 200
    cards = resp.get_json()["cards"]
    assert len(cards) == 1
    card = cards[0]
    assert "G3002 ready to bill (35 min)" in card["summary"] and len(card["summary"]) < 140
    assert "10 more minutes add a G3003" in card["detail"]
    assert card["links"][0]["type"] == "smart" and "appContext" in card["links"][0]
    assert card["source"]["topic"]["code"] == "clinical-reminder"


def test_patient_view_card_says_what_is_missing(app, key):
    today = datetime.now(UTC).date()
    resources = [r for r in chart(today, minutes=(12,)) if r["resourceType"] != "CarePlan"]
    card = call(app, key, "painpa-cpm", body("patient-view", prefetch=prefetch(resources))).get_json()["cards"][0]
    assert "12 of 30 min" in card["summary"] and "no care plan" in card["summary"]
    assert "- **Missing** · Person-centered care plan: No active care plan on file" in card["detail"]
    assert "18 more for G3002" in card["detail"]


@pytest.mark.parametrize("hook,service", [("patient-view", "painpa-cpm"), ("encounter-start", "painpa-cpm-encounter")])
def test_no_card_for_a_patient_who_does_not_qualify(app, key, hook, service):
    today = datetime.now(UTC).date()
    extra = {"context": {"userId": "Practitioner/dr1", "patientId": "p1", "encounterId": "e1"}} if hook != "patient-view" \
        else {}
    resp = call(app, key, service, {**body(hook, prefetch=prefetch(chart(today, chronic=False))), **extra})
    assert resp.status_code == 200 and resp.get_json() == {"cards": []}


def test_no_prefetch_and_no_fhir_access_is_412(app, key):
    resp = call(app, key, "painpa-cpm", body("patient-view"))
    assert resp.status_code == 412 and resp.get_json()["resourceType"] == "OperationOutcome"


def test_data_fetched_from_the_fhir_server_when_prefetch_lacks_it(app, key, tmp_path):
    today = datetime.now(UTC).date()
    data = tmp_path / "chart.json"
    data.write_text(json.dumps(chart(today, minutes=(30, 15, 15))))
    port = free_port()
    with running([sys.executable, "-m", "tests.support.fhir_server", "--port", str(port), "--data", str(data)],
                 ready_url=f"http://127.0.0.1:{port}/fhir/metadata"):
        clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(key),
                           fhir_bases=[f"http://127.0.0.1:{port}/fhir"])
        resp = call(app, key, "painpa-cpm", body("patient-view", fhirServer=f"http://127.0.0.1:{port}/fhir",
                                                 fhirAuthorization={"access_token": "t", "token_type": "Bearer",
                                                                    "expires_in": 30, "scope": "patient/*.rs",
                                                                    "subject": "painpa"}))
    assert resp.status_code == 200, resp.get_json()
    card = resp.get_json()["cards"][0]
    assert "G3002 + 2 × G3003 ready to bill (60 min)" in card["summary"]
