"""FHIR R4 RESTful API §3.1.0.11 transaction and batch semantics of the sandbox server, in process
and over real HTTP against ``painpa sandbox``."""

from __future__ import annotations

import hashlib
import json

import requests

from cds_service.store.base import Database
from sandbox.setup import upsert_client
from tests.sandbox.helpers import pkce, query


def _bundle(kind: str, entries: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def _patient_and_condition(condition_code: dict | None = None) -> list[dict]:
    condition = {"resourceType": "Condition", "subject": {"reference": "urn:uuid:7f1c"},
                 "code": condition_code if condition_code is not None else {"text": "Lumbar radiculopathy"}}
    return [
        {"fullUrl": "urn:uuid:7f1c", "resource": {"resourceType": "Patient", "name": [{"family": "Tx"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:9a2d", "resource": condition, "request": {"method": "POST", "url": "Condition"}},
    ]


def test_transaction_assigns_ids_and_rewrites_urn_references(client, token):
    h = token()
    resp = client.post("/fhir", json=_bundle("transaction", _patient_and_condition()), headers=h)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = resp.get_json(force=True)
    assert out["type"] == "transaction-response"
    patient_loc, cond_loc = (e["response"]["location"] for e in out["entry"])
    assert all(e["response"]["status"] == "201 Created" for e in out["entry"])
    pid = patient_loc.split("/")[1]
    cond = client.get("/fhir/" + "/".join(cond_loc.split("/")[:2]), headers=h).get_json(force=True)
    assert cond["subject"]["reference"] == f"Patient/{pid}"
    assert client.get(f"/fhir/Condition?patient={pid}", headers=h).get_json(force=True)["total"] == 1


def test_transaction_is_all_or_nothing(client, token):
    h = token()
    resp = client.post("/fhir", json=_bundle("transaction", _patient_and_condition({"coding": "not-a-list"})),
                       headers=h)
    assert resp.status_code == 422
    assert "entry[1]" in resp.get_json(force=True)["issue"][0]["diagnostics"]
    assert client.get("/fhir/Patient", headers=h).get_json(force=True)["total"] == 0  # the Patient was rolled back


def test_transaction_processes_deletes_before_creates_and_reads_last(client, token):
    h = token()
    client.put("/fhir/Patient/old", json={"resourceType": "Patient", "id": "old"}, headers=h)
    entries = [
        {"request": {"method": "GET", "url": "Patient?_count=10"}},
        {"resource": {"resourceType": "Patient", "id": "new"}, "request": {"method": "PUT", "url": "Patient/new"}},
        {"request": {"method": "DELETE", "url": "Patient/old"}},
    ]
    out = client.post("/fhir", json=_bundle("transaction", entries), headers=h).get_json(force=True)
    search = out["entry"][0]["resource"]
    assert [e["resource"]["id"] for e in search["entry"]] == ["new"]  # GET ran after the DELETE and the PUT
    assert out["entry"][2]["response"]["status"].startswith("204")


def test_batch_entries_succeed_or_fail_independently(client, token):
    h = token()
    entries = [
        {"resource": {"resourceType": "Patient", "id": "ok"}, "request": {"method": "PUT", "url": "Patient/ok"}},
        {"resource": {"resourceType": "Patient", "birthDate": "never"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
    ]
    out = client.post("/fhir", json=_bundle("batch", entries), headers=h).get_json(force=True)
    assert out["type"] == "batch-response"
    assert [e["response"]["status"][:3] for e in out["entry"]] == ["201", "422", "404"]
    assert out["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Patient/ok", headers=h).status_code == 200


def test_bundle_type_and_entry_shape_are_checked(client, token):
    h = token()
    assert client.post("/fhir", json={"resourceType": "Bundle", "type": "collection"}, headers=h).status_code == 400
    bad = _bundle("transaction", [{"request": {"method": "PUT", "url": "Patient"}, "resource": {"resourceType": "Patient"}}])
    assert client.post("/fhir", json=bad, headers=h).status_code == 400


def _http_token(server) -> str:
    """A token from the running sandbox's authorization server, obtained over HTTP by a standalone
    launch (patient picker) with PKCE and client_secret_basic, after registering a test client in the
    sandbox's database the way its own setup does."""
    db = Database(f"sqlite:///{server.home / 'painpa.db'}")
    upsert_client(db, "http-test", name="HTTP test", auth_method="client_secret_basic",
                  redirect_uris=["http://127.0.0.1/cb"], secret_sha256=hashlib.sha256(b"pw").hexdigest(), scope="")
    db.dispose()
    verifier, challenge = pkce()
    form = {"response_type": "code", "client_id": "http-test", "redirect_uri": "http://127.0.0.1/cb",
            "scope": "launch/patient user/*.cruds", "state": "s" * 24, "aud": f"{server.base}/fhir",
            "code_challenge": challenge, "code_challenge_method": "S256"}
    picker = requests.get(f"{server.base}/auth/authorize", params=form, timeout=5)
    assert picker.status_code == 200 and "patient-picker" in picker.text
    resp = requests.post(f"{server.base}/auth/authorize", data={**form, "patient": "tx-esi-fix"},
                         allow_redirects=False, timeout=5)
    code = query(resp.headers["Location"])["code"]
    tok = requests.post(f"{server.base}/auth/token", auth=("http-test", "pw"), timeout=5, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1/cb",
        "code_verifier": verifier})
    assert tok.status_code == 200, tok.text
    assert tok.json()["patient"] == "tx-esi-fix"
    return tok.json()["access_token"]


def test_transaction_and_search_over_real_http(sandbox_server):
    base = sandbox_server.base
    assert requests.get(f"{base}/fhir/Patient", timeout=5).status_code == 401
    assert requests.get(f"{base}/fhir/metadata", timeout=5).json()["fhirVersion"] == "4.0.1"
    h = {"Authorization": f"Bearer {_http_token(sandbox_server)}", "Content-Type": "application/fhir+json"}
    resp = requests.post(f"{base}/fhir", data=json.dumps(_bundle("transaction", _patient_and_condition())),
                         headers=h, timeout=10)
    assert resp.status_code == 200, resp.text
    pid = resp.json()["entry"][0]["response"]["location"].split("/")[1]
    found = requests.get(f"{base}/fhir/Condition", params={"subject": f"Patient/{pid}"}, headers=h, timeout=5).json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{pid}"
    # the seeded chart, as painpa reads it: scores newest first, one page at a time
    scores = requests.get(f"{base}/fhir/Observation", headers=h, timeout=5, params={
        "patient": "tx-esi-ready", "code": "http://loinc.org|72514-3,http://loinc.org|97909-6", "_sort": "-date",
        "_count": 1}).json()
    assert scores["total"] == 2 and len(scores["entry"]) == 1
    assert any(link["relation"] == "next" for link in scores["link"])
