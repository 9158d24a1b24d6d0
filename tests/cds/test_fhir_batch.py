"""One round of FHIR reads as one ``batch`` Bundle (FHIR R4 http.html#transaction) when the EHR's
CapabilityStatement lists the ``batch`` interaction, parallel GETs when it does not; the answer is
the same either way, a failed entry leaves only its type unknown, and every entry goes with the
call's bearer token. The fixture FHIR server is a real process; its log is the ground truth."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

from sqlalchemy import select

from cds_service import state
from cds_service.fhir import batch
from cds_service.fhir.gather import gather
from cds_service.store.tables import AuditEvent
from tests.support.hook_requests import SIGN, full_prefetch, hook_body

MISSING = ("procedures", "observations")


def _sign(caller, fhir) -> tuple[str, dict]:
    prefetch = {k: v for k, v in full_prefetch().items() if k not in MISSING}
    body = hook_body(prefetch=prefetch, fhir_server=fhir.base, token="tok-" + uuid.uuid4().hex)
    resp = caller.post(SIGN, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return body["hookInstance"], resp.get_json()


def _audited_reads(app, hook_instance: str) -> int | None:
    with state.of(app).db.session() as s:
        return s.scalar(select(AuditEvent.fhir_reads).where(AuditEvent.hook_instance == hook_instance))


def _cards(answer: dict) -> list[tuple]:
    return sorted((c["summary"], c["indicator"]) for c in answer["cards"])


def test_a_batch_capable_server_gets_the_partial_prefetch_reads_in_one_post(app, caller, fhir):
    _instance, parallel = _sign(caller, fhir)
    parallel_log = fhir.log()
    assert len(parallel_log) >= 3 and not any(e["batch"] for e in parallel_log)   # one GET per read
    fhir.reset()
    fhir.control(batch=True)
    batch.clear()        # the CapabilityStatement is kept an hour: as if that hour had passed
    instance, batched = _sign(caller, fhir)
    log = fhir.log()
    assert [e["method"] for e in log if not e["batch"] and "_page=" not in e["query"]] == ["POST"]
    entries = [e for e in log if e["method"] == "GET"]   # the POST's entries, then a search's next pages
    assert all(e["batch"] for e in entries if "_page=" not in e["query"])
    assert all(e["token_ok"] for e in log)
    assert sorted((e["path"], unquote(e["query"])) for e in entries) == sorted(
        (e["path"], unquote(e["query"])) for e in parallel_log)
    sent = sum(not e["batch"] for e in log)              # HTTP requests: the POST and the next pages
    assert _audited_reads(app, instance) == sent < len(parallel_log)
    assert _cards(batched) == _cards(parallel)
    assert batched["systemActions"] == parallel["systemActions"]


def test_a_failed_batch_entry_leaves_only_its_type_unknown(app, caller, fhir):
    fhir.control(fail=["Procedure"])
    _instance, parallel = _sign(caller, fhir)
    fhir.reset()
    fhir.control(fail=["Procedure"], batch=True)
    batch.clear()
    _instance, batched = _sign(caller, fhir)
    assert all(e["batch"] for e in fhir.log() if "_page=" not in e["query"] and e["method"] == "GET")
    assert _cards(batched) == _cards(parallel)
    assert _cards(batched) != _cards(_sign_clean(caller, fhir))


def _sign_clean(caller, fhir) -> dict:
    fhir.reset()
    fhir.control(batch=True)
    return _sign(caller, fhir)[1]


def test_answers_read_in_a_batch_warm_the_next_call_as_the_same_record(settings, fhir):
    """The warm cache keeps a batch's answer as its bytes: the order-sign after an order-select
    searches nothing again, and its record holds the same resources, a search's later pages included."""
    fhir.control(batch=True)
    token = "tok-" + uuid.uuid4().hex

    def record():
        return gather(patient_id="pt-esi-1", settings=settings, fhir_server=fhir.base, access_token=token,
                      context={"userId": "PractitionerRole/role-pain-1"}, cache_scope=("iss-a", None))

    def content(rec) -> dict[str, list[str]]:
        return {t: sorted(r["id"] for r in rec.of(t)) for t in ("Procedure", "Observation", "Coverage", "Condition")}

    first = record()
    log = fhir.log()
    assert any(e["batch"] for e in log) and any("_page=" in e["query"] for e in log)
    again = record()
    # Not one more search or batch (the role's Location, a later round's read, is not kept warm either way).
    assert [e for e in fhir.log()[len(log):] if e["query"] or e["batch"] or e["method"] == "POST"] == []
    assert content(again) == content(first) and all(content(first).values())
    assert not again.incomplete


def test_a_batch_the_server_refuses_is_read_as_parallel_gets(app, caller, fhir, monkeypatch):
    """A server that lists ``batch`` but answers the POST with an error still gets every read, as GETs."""
    _instance, parallel = _sign(caller, fhir)
    fhir.reset()
    monkeypatch.setattr(batch, "supported", lambda client: True)   # the fixture, batch off, answers 405
    instance, answer = _sign(caller, fhir)
    log = fhir.log()
    assert log[0]["method"] == "POST" and not any(e["batch"] for e in log)
    assert len([e for e in log if e["method"] == "GET"]) >= 3
    assert _audited_reads(app, instance) == len(log)
    assert _cards(answer) == _cards(parallel)
