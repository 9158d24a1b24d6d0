"""Versioned updates inside transaction and batch Bundles of the sandbox FHIR server: FHIR R4
http.html §3.1.0.6.1 "Managing Resource Contention" and ``Bundle.entry.request.ifMatch`` (§3.1.0.11):
a stale version is refused 412 ``conflict`` and, in a transaction, nothing of the Bundle is stored;
two writers holding the same version cannot both succeed, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cds_service.store.base import Database
from sandbox.fhir import store
from sandbox.fhir.outcome import FhirError
from sandbox.tables import FhirResource
from tests.sandbox.test_fhir_transaction import _http_token


def _put(pid: str, family: str, if_match: str | None = None) -> dict:
    request = {"method": "PUT", "url": f"Patient/{pid}"}
    if if_match is not None:
        request["ifMatch"] = if_match
    return {"resource": {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}, "request": request}


def _observation(text: str) -> dict:
    return {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "request": {"method": "POST", "url": "Observation"},
            "resource": {"resourceType": "Observation", "status": "final", "code": {"text": text}}}


def _transaction(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_a_transaction_with_a_stale_ifmatch_is_refused_412_and_stores_nothing(client, token):
    h = token()
    client.put("/fhir/Patient/p-ifm", json={"resourceType": "Patient", "id": "p-ifm"}, headers=h)
    client.put("/fhir/Patient/p-ifm", json={"resourceType": "Patient", "id": "p-ifm", "gender": "female"}, headers=h)

    stale = client.post("/fhir", json=_transaction(_observation("stale"), _put("p-ifm", "Stale", 'W/"1"')), headers=h)
    assert stale.status_code == 412, stale.get_data(as_text=True)
    issue = stale.get_json(force=True)["issue"][0]
    assert issue["code"] == "conflict" and issue["diagnostics"].startswith("entry[1]: ")
    assert client.get("/fhir/Observation", headers=h).get_json(force=True)["total"] == 0  # rolled back
    kept = client.get("/fhir/Patient/p-ifm", headers=h).get_json(force=True)
    assert kept["meta"]["versionId"] == "2" and kept["gender"] == "female" and "name" not in kept

    fresh = client.post("/fhir", json=_transaction(_observation("fresh"), _put("p-ifm", "Fresh", 'W/"2"')), headers=h)
    assert fresh.status_code == 200, fresh.get_data(as_text=True)
    assert fresh.get_json(force=True)["entry"][1]["response"]["etag"] == 'W/"3"'
    assert client.get("/fhir/Observation", headers=h).get_json(force=True)["total"] == 1


def test_a_batch_refuses_only_the_stale_entry(client, token):
    h = token()
    client.put("/fhir/Patient/p-batch", json={"resourceType": "Patient", "id": "p-batch"}, headers=h)
    out = client.post("/fhir", headers=h, json={"resourceType": "Bundle", "type": "batch", "entry": [
        _put("p-batch", "Stale", 'W/"7"'), _observation("independent")]}).get_json(force=True)
    assert [e["response"]["status"][:3] for e in out["entry"]] == ["412", "201"]
    assert out["entry"][0]["response"]["outcome"]["issue"][0]["code"] == "conflict"
    assert client.get("/fhir/Patient/p-batch", headers=h).get_json(force=True)["meta"]["versionId"] == "1"


def test_an_ifmatch_the_server_cannot_honour_is_refused_not_ignored(client, token):
    h = token()
    client.put("/fhir/Patient/p-del", json={"resourceType": "Patient", "id": "p-del"}, headers=h)
    delete = {"request": {"method": "DELETE", "url": "Patient/p-del", "ifMatch": 'W/"9"'}}
    resp = client.post("/fhir", json=_transaction(delete), headers=h)
    assert resp.status_code == 400 and resp.get_json(force=True)["issue"][0]["code"] == "not-supported"
    assert client.get("/fhir/Patient/p-del", headers=h).status_code == 200


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fhir_db(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'fhir.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = Database(url)
    db.create_all()
    yield db
    db.dispose()


def test_two_writers_that_read_the_same_version_cannot_both_write(fhir_db):
    """The race a check in Python alone loses: the late writer read the row at version 1 before the
    early one committed version 2, and writes after that commit. The database must refuse it."""
    pid = f"race-{uuid.uuid4().hex[:12]}"
    with fhir_db.session() as s:
        store.put(s, {"resourceType": "Patient", "id": pid})
    with fhir_db.session() as late:
        seen = late.get(FhirResource, ("Patient", pid))  # held, as put() holds the row it checked
        assert seen is not None and seen.version == 1
        with fhir_db.session() as early:
            store.put(early, {"resourceType": "Patient", "id": pid, "gender": "female"}, if_match='W/"1"')
        with pytest.raises(FhirError) as refused:
            store.put(late, {"resourceType": "Patient", "id": pid, "gender": "male"}, if_match='W/"1"')
        assert refused.value.status == 412 and refused.value.issues[0]["code"] == "conflict"
    with fhir_db.session() as s:
        final = store.read(s, "Patient", pid)
    assert final["meta"]["versionId"] == "2" and final["gender"] == "female"


def test_concurrent_transactions_with_one_ifmatch_over_real_http_let_exactly_one_through(sandbox_server):
    base = sandbox_server.base
    h = {"Authorization": f"Bearer {_http_token(sandbox_server)}", "Content-Type": "application/fhir+json"}
    pid = f"race-{uuid.uuid4().hex[:12]}"
    created = requests.put(f"{base}/fhir/Patient/{pid}", headers=h, timeout=10,
                           data=json.dumps({"resourceType": "Patient", "id": pid}))
    assert created.status_code == 201, created.text

    def write(n: int) -> int:
        bundle = _transaction(_put(pid, f"Writer{n}", 'W/"1"'))
        return requests.post(f"{base}/fhir", data=json.dumps(bundle), headers=h, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(write, range(8)))
    assert statuses == [200] + [412] * 7
    final = requests.get(f"{base}/fhir/Patient/{pid}", headers=h, timeout=10).json()
    assert final["meta"]["versionId"] == "2"
