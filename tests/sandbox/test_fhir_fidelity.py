"""FHIR R4 fidelity of the sandbox server, as third-party clients rely on it:

* conditional create, ``If-None-Exist`` (http.html#ccreate) and in a transaction (``ifNoneExist``);
* conditional update, ``PUT [type]?[criteria]`` (http.html#cond-update);
* unsupported search parameters (search.html#errors): 400 under ``Prefer: handling=strict``, else
  not applied and absent from the ``self`` link, never applied as "match everything";
* chaining (search.html#chaining): ``patient.identifier``, ``subject:Patient.identifier``;
* required bindings (terminologies.html "required"): 422 naming the element;
* conditional read, ``If-None-Match`` → 304 (http.html#cread);
* the CapabilityStatement says exactly this.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from tests.sandbox.helpers import client_credentials, new_key
from tests.support.procs import VENV_BIN

MRN = "http://hospital.example/mrn"
STRICT = {"Prefer": "handling=strict"}


def patient(mrn: str, family: str = "Rivera", **extra) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": MRN, "value": mrn}], "name": [{"family": family}],
            **extra}


def condition(pid: str, code: str = "M54.16") -> dict:
    return {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}}


def _json(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json(force=True)


@pytest.fixture
def h(token):
    return token()


@pytest.fixture
def two_patients(client, h):
    """Two patients, each with one Condition; returns their ids."""
    ids = []
    for mrn, family in (("A-1", "Rivera"), ("B-2", "Okafor")):
        pid = _json(client.post("/fhir/Patient", json=patient(mrn, family), headers=h), 201)["id"]
        _json(client.post("/fhir/Condition", json=condition(pid), headers=h), 201)
        ids.append(pid)
    return ids


def test_conditional_create_twice_makes_one_resource(client, h):
    headers = {**h, "If-None-Exist": f"identifier={MRN}|C-3"}
    first = client.post("/fhir/Patient", json=patient("C-3"), headers=headers)
    created = _json(first, 201)
    again = client.post("/fhir/Patient", json=patient("C-3", family="Changed"), headers=headers)
    existing = _json(again, 200)
    assert existing["id"] == created["id"] and existing["name"][0]["family"] == "Rivera"   # ignored, not updated
    assert again.headers["Location"].endswith(f"/Patient/{created['id']}") and again.headers["ETag"] == 'W/"1"'
    found = _json(client.get(f"/fhir/Patient?identifier={MRN}|C-3", headers=h), 200)
    assert found["total"] == 1

    # Two matches: 412; criteria the server cannot evaluate, or none at all: 400, nothing created.
    client.post("/fhir/Patient", json=patient("D-4", family="Twin"), headers=h)
    client.post("/fhir/Patient", json=patient("D-5", family="Twin"), headers=h)
    assert client.post("/fhir/Patient", json=patient("D-6"), headers={**h, "If-None-Exist": "family=Twin"}).status_code == 412
    unknown = client.post("/fhir/Patient", json=patient("D-7"), headers={**h, "If-None-Exist": "nickname=Tw"})
    assert unknown.status_code == 400 and "nickname" in unknown.get_json(force=True)["issue"][0]["diagnostics"]
    assert client.post("/fhir/Patient", json=patient("D-8"), headers={**h, "If-None-Exist": ""}).status_code == 400
    assert _json(client.get(f"/fhir/Patient?identifier={MRN}|D-6,{MRN}|D-7,{MRN}|D-8", headers=h), 200)["total"] == 0


def test_conditional_create_in_a_transaction(client, h):
    entry = {"fullUrl": "urn:uuid:p", "resource": patient("T-1"),
             "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={MRN}|T-1"}}
    obs = {"fullUrl": "urn:uuid:c", "resource": condition("x") | {"subject": {"reference": "urn:uuid:p"}},
           "request": {"method": "POST", "url": "Condition"}}
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [entry, obs]}
    first = _json(client.post("/fhir", json=tx, headers=h), 200)
    second = _json(client.post("/fhir", json=tx, headers=h), 200)
    assert first["entry"][0]["response"]["status"].startswith("201")
    assert second["entry"][0]["response"]["status"].startswith("200")
    pid = first["entry"][0]["resource"]["id"]
    assert second["entry"][0]["resource"]["id"] == pid
    # the second Condition points at the patient that already existed, not at a duplicate
    assert second["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{pid}"
    assert _json(client.get(f"/fhir/Patient?identifier={MRN}|T-1", headers=h), 200)["total"] == 1


def test_conditional_update(client, h):
    # No match, no id: created with a new id.
    made = client.put(f"/fhir/Patient?identifier={MRN}|U-1", json=patient("U-1"), headers=h)
    created = _json(made, 201)
    # One match: that resource is updated (version 2), whatever id the body lacks.
    updated = _json(client.put(f"/fhir/Patient?identifier={MRN}|U-1", json=patient("U-1", family="Moved"),
                               headers=h), 200)
    assert updated["id"] == created["id"] and updated["meta"]["versionId"] == "2"
    assert _json(client.get(f"/fhir/Patient/{created['id']}", headers=h), 200)["name"][0]["family"] == "Moved"
    # A body id naming another resource: 400; several matches: 412.
    assert client.put(f"/fhir/Patient?identifier={MRN}|U-1", json={**patient("U-1"), "id": "other"},
                      headers=h).status_code == 400
    client.post("/fhir/Patient", json=patient("U-2", family="Same"), headers=h)
    client.post("/fhir/Patient", json=patient("U-3", family="Same"), headers=h)
    assert client.put("/fhir/Patient?family=Same", json=patient("U-4"), headers=h).status_code == 412
    # No criteria at all is not a conditional update of everything.
    assert client.put("/fhir/Patient", json=patient("U-5"), headers=h).status_code == 400
    # The same in a transaction, with a urn reference to the conditionally updated patient rewritten.
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:pt", "resource": patient("U-1", family="Again"),
         "request": {"method": "PUT", "url": f"Patient?identifier={MRN}|U-1"}},
        {"fullUrl": "urn:uuid:cd", "resource": condition("x") | {"subject": {"reference": "urn:uuid:pt"}},
         "request": {"method": "POST", "url": "Condition"}}]}
    result = _json(client.post("/fhir", json=tx, headers=h), 200)
    assert result["entry"][0]["resource"]["id"] == created["id"]
    assert result["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{created['id']}"


def test_chained_parameters_da_vinci_and_us_core_clients_use(client, h, two_patients):
    rivera, okafor = two_patients
    by_chain = _json(client.get(f"/fhir/Condition?patient.identifier={MRN}|A-1", headers=h), 200)
    assert [e["resource"]["subject"]["reference"] for e in by_chain["entry"]] == [f"Patient/{rivera}"]
    typed = _json(client.get(f"/fhir/Condition?subject:Patient.identifier={MRN}|B-2", headers=h), 200)
    assert [e["resource"]["subject"]["reference"] for e in typed["entry"]] == [f"Patient/{okafor}"]
    by_name = _json(client.get("/fhir/Condition?patient.name=Okafor", headers=h), 200)
    assert by_name["total"] == 1
    nobody = _json(client.get(f"/fhir/Condition?patient.identifier={MRN}|nobody", headers=h), 200)
    assert nobody["total"] == 0
    query = dict(parse_qsl(urlsplit(typed["link"][0]["url"]).query))
    assert query == {"subject:Patient.identifier": f"{MRN}|B-2"}   # applied, so in the self link


@pytest.mark.parametrize("param", ["patient.general-practitioner.name=Lee", "subject.identifier=x",
                                   "patient.nickname=Ok", "_has:Observation:patient:code=1234-5"])
def test_unsupported_search_is_refused_when_strict_and_visibly_dropped_when_lenient(client, h, two_patients, param):
    refused = client.get(f"/fhir/Condition?{param}", headers={**h, **STRICT})
    outcome = _json(refused, 400)
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "not-supported"
    assert param.split("=")[0] in outcome["issue"][0]["diagnostics"]
    lenient = _json(client.get(f"/fhir/Condition?{param}&code=M54.16", headers=h), 200)
    self_query = parse_qsl(urlsplit(lenient["link"][0]["url"]).query)
    assert self_query == [("code", "M54.16")]        # what was applied, and only that
    assert lenient["total"] == 2


def test_required_bindings_are_validated_with_the_element_path(client, h):
    robot = client.post("/fhir/Patient", json=patient("R-1", gender="robot"), headers=h)
    outcome = _json(robot, 422)
    assert outcome["issue"][0]["expression"] == ["Patient.gender"]
    assert "robot" in outcome["issue"][0]["diagnostics"] and "female" in outcome["issue"][0]["diagnostics"]
    bad_status = condition("x") | {"clinicalStatus": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "cured"}]}}
    assert _json(client.post("/fhir/Condition", json=bad_status, headers=h), 422)["issue"][0]["expression"] == [
        "Condition.clinicalStatus"]
    nested = patient("R-2", contact=[{"gender": "robot"}])
    assert _json(client.put("/fhir/Patient/r2", json={**nested, "id": "r2"}, headers=h), 422)["issue"][0][
        "expression"] == ["Patient.contact[0].gender"]
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient("R-3"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "done", "code": {"text": "x"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    assert client.post("/fhir", json=tx, headers=h).status_code == 422
    assert _json(client.get(f"/fhir/Patient?identifier={MRN}|R-1,{MRN}|R-3", headers=h), 200)["total"] == 0
    assert _json(client.post("/fhir/Patient", json=patient("R-4", gender="other"), headers=h), 201)


def test_if_none_match_answers_304(client, h):
    made = client.post("/fhir/Patient", json=patient("N-1"), headers=h)
    pid, etag = made.get_json(force=True)["id"], made.headers["ETag"]
    same = client.get(f"/fhir/Patient/{pid}", headers={**h, "If-None-Match": etag})
    assert same.status_code == 304 and same.headers["ETag"] == etag and same.get_data() == b""
    client.put(f"/fhir/Patient/{pid}", json={**patient("N-1", family="New"), "id": pid}, headers=h)
    changed = client.get(f"/fhir/Patient/{pid}", headers={**h, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] == 'W/"2"'
    assert changed.get_json(force=True)["name"][0]["family"] == "New"


def test_capability_statement_says_what_is_served(client):
    cap = _json(client.get("/fhir/metadata"), 200)
    rest = cap["rest"][0]
    pat = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert pat["conditionalCreate"] is True and pat["conditionalUpdate"] is True
    assert pat["conditionalRead"] == "not-match" and pat["conditionalDelete"] == "not-supported"
    assert {"identifier", "gender", "family", "given", "name", "birthdate"} <= {p["name"] for p in pat["searchParam"]}
    cond = next(r for r in rest["resource"] if r["type"] == "Condition")
    patient_param = next(p for p in cond["searchParam"] if p["name"] == "patient")
    assert "patient.<" in patient_param["documentation"] and "identifier" in patient_param["documentation"]
    assert "handling=strict" in rest["documentation"] and "_has" in rest["documentation"]
    oauth = rest["security"]["extension"][0]["extension"]
    assert {e["url"] for e in oauth} == {"authorize", "token", "register"}


def test_over_real_http_with_a_backend_token(sandbox_server, tmp_path):
    """The same conditional create and If-None-Match through the running sandbox, with a system/
    token from a backend-services client registered by the command."""
    base, key, client_id = sandbox_server.base, new_key(), f"fid-{uuid.uuid4().hex[:8]}"
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    done = subprocess.run([str(VENV_BIN / "painpa"), "sandbox", "apps", "add", "--client-id", client_id,
                           "--jwks-file", str(jwks), "--scope", "system/Patient.cruds"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PAINPA_HOME": str(sandbox_server.home)})
    assert done.returncode == 0, done.stderr
    token = requests.post(f"{base}/auth/token", timeout=10, data=client_credentials(
        key, client_id, f"{base}/auth/token", "system/Patient.cruds")).json()["access_token"]
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    mrn = uuid.uuid4().hex
    cond = {**h, "If-None-Exist": f"identifier={MRN}|{mrn}"}
    first = requests.post(f"{base}/fhir/Patient", json=patient(mrn), headers=cond, timeout=10)
    second = requests.post(f"{base}/fhir/Patient", json=patient(mrn), headers=cond, timeout=10)
    assert (first.status_code, second.status_code) == (201, 200) and first.json()["id"] == second.json()["id"]
    read = requests.get(f"{base}/fhir/Patient/{first.json()['id']}", timeout=10,
                        headers={**h, "If-None-Match": first.headers["ETag"]})
    assert read.status_code == 304
    robot = requests.post(f"{base}/fhir/Patient", json=patient("x", gender="robot"), headers=h, timeout=10)
    assert robot.status_code == 422 and robot.json()["issue"][0]["expression"] == ["Patient.gender"]
