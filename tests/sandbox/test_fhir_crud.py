"""FHIR R4 RESTful API §3.1.0 semantics of the sandbox server: create/read/update/delete, versions,
validation with OperationOutcome (400/404/410/412/422, never 500), bearer tokens and scopes."""

from __future__ import annotations

PATIENT = {"resourceType": "Patient", "name": [{"family": "Test", "given": ["Ada"]}], "birthDate": "1950-02-03"}


def _outcome(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json(force=True)
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["diagnostics"]
    return body


def test_metadata_is_public_and_lists_search_parameters(client):
    resp = client.get("/fhir/metadata")
    assert resp.status_code == 200
    cap = resp.get_json(force=True)
    assert cap["fhirVersion"] == "4.0.1"
    obs = next(r for r in cap["rest"][0]["resource"] if r["type"] == "Observation")
    assert {"patient", "code", "date", "category"} <= {p["name"] for p in obs["searchParam"]}
    assert "ClaimResponse:request" in next(r for r in cap["rest"][0]["resource"] if r["type"] == "ClaimResponse")["searchInclude"]


def test_requests_without_a_valid_token_are_refused(client, token):
    _outcome(client.get("/fhir/Patient"), 401)
    resp = client.get("/fhir/Patient", headers={"Authorization": "Bearer not-a-token"})
    _outcome(resp, 401)
    assert "invalid_token" in resp.headers["WWW-Authenticate"]
    expired = token(expires_in=-1)
    _outcome(client.get("/fhir/Patient", headers=expired), 401)


def test_create_read_update_delete_with_versions(client, token):
    h = token()
    created = client.post("/fhir/Patient", json=PATIENT, headers=h)
    assert created.status_code == 201
    body = created.get_json(force=True)
    pid = body["id"]
    assert body["meta"]["versionId"] == "1" and created.headers["Location"].endswith(f"/Patient/{pid}/_history/1")
    read = client.get(f"/fhir/Patient/{pid}", headers=h)
    assert read.get_json(force=True)["name"][0]["family"] == "Test" and read.headers["ETag"] == 'W/"1"'
    updated = client.put(f"/fhir/Patient/{pid}", json={**PATIENT, "id": pid, "gender": "female"}, headers=h)
    assert updated.status_code == 200 and updated.get_json(force=True)["meta"]["versionId"] == "2"
    stale = client.put(f"/fhir/Patient/{pid}", json={**PATIENT, "id": pid}, headers={**h, "If-Match": 'W/"1"'})
    _outcome(stale, 412)
    assert client.delete(f"/fhir/Patient/{pid}", headers=h).status_code == 204
    _outcome(client.get(f"/fhir/Patient/{pid}", headers=h), 410)
    assert client.get("/fhir/Patient", headers=h).get_json(force=True)["total"] == 0


def test_update_as_create_and_id_mismatch(client, token):
    h = token()
    assert client.put("/fhir/Patient/p-1", json={**PATIENT, "id": "p-1"}, headers=h).status_code == 201
    _outcome(client.put("/fhir/Patient/p-1", json={**PATIENT, "id": "p-2"}, headers=h), 400)


def test_invalid_content_is_422_with_the_failing_element(client, token):
    body = _outcome(client.post("/fhir/Patient", json={**PATIENT, "birthDate": "yesterday"}, headers=token()), 422)
    assert any("birthDate" in (i.get("expression") or [""])[0] for i in body["issue"])
    _outcome(client.post("/fhir/Observation", json={"resourceType": "Observation", "status": "final"},
                         headers=token()), 422)  # code is 1..1


def test_bad_requests_are_specific_not_500(client, token):
    h = token()
    _outcome(client.post("/fhir/Patient", data="{not json", headers={**h, "Content-Type": "application/fhir+json"}), 400)
    _outcome(client.post("/fhir/Patient", json={"resourceType": "Condition"}, headers=h), 400)
    _outcome(client.get("/fhir/SubscriptionTopic", headers=h), 404)  # R4B-only type: not R4
    _outcome(client.get("/fhir/Patient/unknown-id", headers=h), 404)
    _outcome(client.get("/fhir/Patient/bad id!", headers=h), 400)
    _outcome(client.patch("/fhir/Patient/x", json={}, headers=h), 405)
    _outcome(client.get("/fhir/Observation?date=not-a-date", headers=h), 400)


def test_patient_scoped_token_sees_only_its_patient(client, token):
    admin = token()
    for pid in ("a", "b"):
        client.put(f"/fhir/Patient/{pid}", json={**PATIENT, "id": pid}, headers=admin)
        client.post("/fhir/Condition", json={"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
                                             "code": {"text": "x"}}, headers=admin)
    scoped = token("patient/*.rs", patient="a")
    assert client.get("/fhir/Patient/a", headers=scoped).status_code == 200
    _outcome(client.get("/fhir/Patient/b", headers=scoped), 403)
    found = client.get("/fhir/Condition", headers=scoped).get_json(force=True)
    assert [e["resource"]["subject"]["reference"] for e in found["entry"]] == ["Patient/a"]
    assert client.get("/fhir/Condition?patient=b", headers=scoped).get_json(force=True)["total"] == 0
    _outcome(client.post("/fhir/Condition", json={"resourceType": "Condition", "subject": {"reference": "Patient/a"},
                                                  "code": {"text": "y"}}, headers=scoped), 403)  # read-only scope


def test_a_patient_scoped_transaction_cannot_overwrite_another_patients_resource(client, token):
    """A PUT in a transaction is checked against the resource it replaces, as a plain PUT is: a token
    for patient a cannot rewrite patient b's Condition by putting a's reference into the new body."""
    admin = token()
    for pid in ("a", "b"):
        client.put(f"/fhir/Patient/{pid}", json={**PATIENT, "id": pid}, headers=admin)
    client.put("/fhir/Condition/of-b", json={"resourceType": "Condition", "id": "of-b",
                                            "subject": {"reference": "Patient/b"}, "code": {"text": "b's"}},
               headers=admin)
    scoped = token("patient/*.cruds", patient="a")
    hijack = {"resourceType": "Condition", "id": "of-b", "subject": {"reference": "Patient/a"}, "code": {"text": "x"}}
    _outcome(client.put("/fhir/Condition/of-b", json=hijack, headers=scoped), 403)
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": hijack, "request": {"method": "PUT", "url": "Condition/of-b"}}]}
    _outcome(client.post("/fhir", json=bundle, headers=scoped), 403)
    kept = client.get("/fhir/Condition/of-b", headers=admin).get_json(force=True)
    assert kept["subject"]["reference"] == "Patient/b" and kept["code"]["text"] == "b's"
