"""Da Vinci PAS 2.2.1 ``Claim/$submit`` and ``Claim/$inquire`` of the sandbox payer: decisions by
the configured rules, ClaimResponse with preAuthRef (14-character UTN), reviewAction A1/A3/A4,
a 120-day preAuthPeriod, a specific denial reason (CMS-0057-F), and the decision stored in the
FHIR server where painpa looks for it."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from cds_service import state
from sandbox.payer.decision import claim
from sandbox.payer.rules import DEFAULT_RULES, RulesError, load_rules

X12 = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode"


@pytest.fixture
def h(client, token):
    # the EHR's user scopes for /fhir, and the system scopes the payer's own API takes
    headers = token("user/*.cruds system/Claim.cr system/ClaimResponse.rs")
    client.put("/fhir/Patient/pa-1", json={"resourceType": "Patient", "id": "pa-1", "address": [{"state": "TX"}]},
               headers=headers)
    return headers


def _request(codes: list[str], *, documented: bool) -> dict:
    c = claim(patient="pa-1", claim_id="c-submit", codes=codes, created=date.today(), coverage_ref="Coverage/cv",
              insurer="Organization/payer-medicare")
    entries = [{"fullUrl": "urn:uuid:3f0e4c1a-0000-4000-8000-000000000001", "resource": c},
               {"fullUrl": "http://127.0.0.1:8080/fhir/Patient/pa-1",
                "resource": {"resourceType": "Patient", "id": "pa-1", "address": [{"state": "TX"}]}}]
    if documented:
        c["supportingInfo"] = [{"sequence": 1, "category": {"coding": [{
            "system": "http://hl7.org/us/davinci-pas/CodeSystem/PASSupportingInfoType", "code": "additionalInformation"}]},
            "valueReference": {"reference": "urn:uuid:qr"}}]
        entries.append({"fullUrl": "urn:uuid:qr", "resource": {
            "resourceType": "QuestionnaireResponse", "status": "completed", "subject": {"reference": "Patient/pa-1"}}})
    return {"resourceType": "Bundle", "type": "collection", "identifier": {"system": "urn:test", "value": "t-1"},
            "timestamp": "2026-12-01T10:00:00Z", "entry": entries}


def _action(response: dict) -> str:
    ext = response["item"][0]["adjudication"][0]["extension"][0]["extension"]
    return next(e["valueCodeableConcept"]["coding"][0]["code"] for e in ext if e["url"] == X12)


def test_documented_request_is_affirmed_with_a_utn_valid_120_days(client, h):
    resp = client.post("/fhir/Claim/$submit", json=_request(["64483", "64484"], documented=True), headers=h)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    bundle = resp.get_json(force=True)
    cr = bundle["entry"][0]["resource"]
    assert cr["resourceType"] == "ClaimResponse" and cr["use"] == "preauthorization" and _action(cr) == "A1"
    assert re.fullmatch(r"[A-Z0-9]{2}A\d{11}", cr["preAuthRef"])
    start, end = date.fromisoformat(cr["preAuthPeriod"]["start"]), date.fromisoformat(cr["preAuthPeriod"]["end"])
    assert (end - start) == timedelta(days=119)  # 120 calendar days including the decision day
    assert [i["itemSequence"] for i in cr["item"]] == [1, 2]
    found = client.get("/fhir/ClaimResponse?patient=pa-1&use=preauthorization&_include=ClaimResponse:request",
                       headers=h).get_json(force=True)
    kinds = sorted(e["resource"]["resourceType"] for e in found["entry"])
    assert kinds == ["Claim", "ClaimResponse"]   # relayed by the EHR: the decision is on the chart


def test_a_request_sent_to_the_payer_directly_leaves_the_ehr_alone(client, h):
    assert client.post("/payer/Claim/$submit", json=_request(["64483"], documented=True), headers=h).status_code == 200
    found = client.get("/fhir/ClaimResponse?patient=pa-1", headers=h).get_json(force=True)
    assert found.get("entry", []) == []


def test_undocumented_stimulator_request_is_denied_with_a_specific_reason(client, h):
    cr = client.post("/payer/Claim/$submit", json=_request(["63655"], documented=False), headers=h).get_json(force=True)
    cr = cr["entry"][0]["resource"]
    assert _action(cr) == "A3" and "psychological evaluation" in cr["processNote"][0]["text"]
    reason = cr["item"][0]["adjudication"][0]["extension"][0]["extension"][-1]
    assert reason["url"] == "reasonCode" and reason["valueCodeableConcept"]["coding"][0]["code"] == "missing-documentation"
    assert cr["preAuthRef"]  # a non-affirmed decision has a UTN too (it goes on the claim)
    assert "preAuthPeriod" not in cr


def test_vertebral_augmentation_is_pended(client, h):
    cr = client.post("/fhir/Claim/$submit", json=_request(["22514"], documented=True), headers=h).get_json(force=True)
    cr = cr["entry"][0]["resource"]
    assert _action(cr) == "A4" and cr["outcome"] == "queued" and "preAuthRef" not in cr


def test_inquire_returns_the_latest_decision(client, h):
    client.post("/payer/Claim/$submit", json=_request(["64483"], documented=True), headers=h)
    resp = client.post("/payer/Claim/$inquire", json=_request(["64483"], documented=False), headers=h)
    assert resp.status_code == 200
    assert _action(resp.get_json(force=True)["entry"][0]["resource"]) == "A1"
    none = client.post("/payer/Claim/$inquire", json=_request(["63655"], documented=False), headers=h)
    assert none.status_code == 404 and none.get_json(force=True)["resourceType"] == "OperationOutcome"


def test_bad_submissions(client, h):
    assert client.post("/fhir/Claim/$submit", json=_request(["64483"], documented=True)).status_code == 401
    bad_token = {"Authorization": "Bearer nope"}
    assert client.post("/payer/Claim/$submit", json=_request(["64483"], documented=True), headers=bad_token).status_code == 401
    assert client.post("/payer/Claim/$submit", json={"resourceType": "Patient"}, headers=h).status_code == 400
    body = _request(["64483"], documented=True)
    body["entry"][0]["resource"]["use"] = "claim"
    assert client.post("/payer/Claim/$submit", json=body, headers=h).status_code == 400
    body = _request(["64483"], documented=True)
    body["entry"][0]["resource"]["patient"] = {"reference": "Patient/stranger"}  # not in the Bundle
    refused = client.post("/payer/Claim/$submit", json=body, headers=h)
    assert refused.status_code == 422 and "Claim.patient" in refused.get_json(force=True)["issue"][0]["diagnostics"]


def test_rules_are_checked_data(tmp_path):
    assert [r["action"] for r in load_rules()["rules"]][-1] == "A1"
    assert all(r["source"] and r["last_verified"] for r in load_rules()["rules"])
    (tmp_path / "payer-rules.json").write_text(json.dumps({"rules": [{"id": "x", "action": "A1", "when": {}}]}))
    with pytest.raises(RulesError, match="needs a source"):
        load_rules(tmp_path)
    (tmp_path / "payer-rules.json").write_text(json.dumps({"rules": [{"id": "x", "action": "A3", "when": {}, "source": "s"}]}))
    with pytest.raises(RulesError, match="specific reason"):
        load_rules(tmp_path)
    (tmp_path / "payer-rules.json").write_text(json.dumps({"rules": [{"id": "x", "action": "A1", "when": {"bogus": 1}, "source": "s"}]}))
    with pytest.raises(RulesError, match="bogus"):
        load_rules(tmp_path)
    pended_denial = {"id": "x", "action": "A4", "when": {}, "then": {"action": "A3"}, "source": "s"}
    (tmp_path / "payer-rules.json").write_text(json.dumps({"rules": [pended_denial]}))
    with pytest.raises(RulesError, match="specific reason"):
        load_rules(tmp_path)
    (tmp_path / "payer-rules.json").write_text(json.dumps({"rules": [{"id": "x", "action": "A1", "then": {"action": "A1"}, "source": "s"}]}))
    with pytest.raises(RulesError, match="only a pended"):
        load_rules(tmp_path)


def test_a_pended_request_relayed_by_the_ehr_is_replaced_on_the_chart_by_its_final_decision(app, client, h):
    rules = json.loads(DEFAULT_RULES.read_text())
    rules["final_after_seconds"] = 0
    (state.of(app).settings.home / "payer-rules.json").write_text(json.dumps(rules))
    pended = client.post("/fhir/Claim/$submit", json=_request(["22514"], documented=True), headers=h).get_json(force=True)
    assert _action(pended["entry"][0]["resource"]) == "A4"
    final = client.post("/fhir/Claim/$inquire", json=_request(["22514"], documented=False), headers=h)
    assert _action(final.get_json(force=True)["entry"][0]["resource"]) == "A1"   # due at once: final on read
    on_chart = client.get("/fhir/ClaimResponse?patient=pa-1", headers=h).get_json(force=True)["entry"]
    assert len(on_chart) == 1 and _action(on_chart[0]["resource"]) == "A1" and on_chart[0]["resource"]["preAuthRef"]
    claims = client.get("/fhir/Claim?patient=pa-1", headers=h).get_json(force=True)["entry"]
    assert len(claims) == 1 and on_chart[0]["resource"]["request"]["reference"] == f"Claim/{claims[0]['resource']['id']}"


def test_the_payers_api_refuses_an_ehr_users_token(client, token):
    """/payer takes backend-services (system/) tokens only; the EHR's user token goes through /fhir."""
    user = token()
    refused = client.post("/payer/Claim/$submit", json=_request(["64483"], documented=True), headers=user)
    assert refused.status_code == 403 and "Backend Services" in refused.get_data(as_text=True)
    assert client.post("/fhir/Claim/$submit", json=_request(["64483"], documented=True), headers=user).status_code == 200
