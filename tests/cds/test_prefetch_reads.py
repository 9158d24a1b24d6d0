"""FHIR reads per call (CDS Hooks 2.0 §Prefetch; CRD 2.2.1 standard prefetch, "Additional prefetch
capabilities"): with every discovery key honoured, including the order's context (its
practitioner roles, locations, organizations), an order-sign sends no FHIR request at all; the
audit row and ``/metrics`` say how many a call sent; with the context keys missing, what the order
points to is read, and the answer is the same either way. The fixture FHIR server is a real process
and its request log is the ground truth."""

from __future__ import annotations

import uuid

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from cds_service import state
from cds_service.store.tables import AuditEvent
from tests.support.hook_requests import SIGN, find, full_prefetch, hook_body


def _bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _honoured() -> dict:
    """Every key of discovery answered, as an EHR that fills CRD's standard prefetch would."""
    return {**full_prefetch(), "practitionerRoles": _bundle(find("PractitionerRole", "role-pain-1")),
            "locations": _bundle(find("Location", "loc-asc-1")),
            "organizations": _bundle(find("Organization", "org-cms"))}


def _reads_histogram(app) -> dict[str, float]:
    text_ = app.test_client().get("/metrics").get_data(as_text=True)
    return {s.name + s.labels.get("le", ""): s.value for family in text_string_to_metric_families(text_)
            for s in family.samples if s.name.startswith("painpa_cds_fhir_reads") and s.labels["service"] == SIGN}


def _audited_reads(app, hook_instance: str) -> int | None:
    with state.of(app).db.session() as s:
        return s.scalar(select(AuditEvent.fhir_reads).where(AuditEvent.hook_instance == hook_instance))


def _sign(caller, fhir, prefetch: dict):
    body = hook_body(prefetch=prefetch, fhir_server=fhir.base, token="tok-" + uuid.uuid4().hex)
    resp = caller.post(SIGN, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return body["hookInstance"], resp.get_json()


def _summaries(answer: dict) -> list[str]:
    return sorted(c["summary"] for c in answer["cards"])


def test_honoured_prefetch_makes_no_fhir_read_counted_in_audit_and_metrics(app, caller, fhir):
    before = _reads_histogram(app)
    instance, answer = _sign(caller, fhir, _honoured())
    assert fhir.log() == []                       # not one request reached the FHIR server
    assert _audited_reads(app, instance) == 0
    after = _reads_histogram(app)
    assert after["painpa_cds_fhir_reads_bucket0.0"] - before.get("painpa_cds_fhir_reads_bucket0.0", 0) == 1
    assert after["painpa_cds_fhir_reads_sum"] == before.get("painpa_cds_fhir_reads_sum", 0)
    # The place and state of service came from the prefetched Location: the same answer as reading it.
    fhir.reset()
    _instance, read_answer = _sign(caller, fhir, full_prefetch())
    assert _summaries(answer) == _summaries(read_answer)
    assert answer["systemActions"] == read_answer["systemActions"]


def test_without_the_context_keys_what_the_order_points_to_is_read_and_counted(app, caller, fhir):
    before = _reads_histogram(app)
    instance, _answer = _sign(caller, fhir, full_prefetch())
    log = fhir.log()
    # The order's location, read once; the history keys were honoured, the requester came as ``user``.
    assert [e["path"] for e in log] == ["/fhir/Location/loc-asc-1"]
    assert all(e["token_ok"] for e in log)
    assert _audited_reads(app, instance) == len(log)
    after = _reads_histogram(app)
    assert after["painpa_cds_fhir_reads_sum"] - before.get("painpa_cds_fhir_reads_sum", 0) == len(log)
    assert after["painpa_cds_fhir_reads_bucket0.0"] == before.get("painpa_cds_fhir_reads_bucket0.0", 0)


def test_an_honoured_context_key_is_not_read_again_for_what_it_lacks(app, caller, fhir):
    """CH2 §Prefetch: prefetched data equals what a query would return, so a Location the EHR's
    ``locations`` answer does not hold is not asked for; the tenant's default state stands in."""
    prefetch = {**_honoured(), "locations": _bundle()}
    instance, _answer = _sign(caller, fhir, prefetch)
    assert fhir.log() == []
    assert _audited_reads(app, instance) == 0


def test_a_partial_context_reads_only_the_missing_part(app, caller, fhir):
    prefetch = _honoured()
    del prefetch["locations"]          # e.g. a client that could not fill that key
    instance, _answer = _sign(caller, fhir, prefetch)
    assert [e["path"] for e in fhir.log()] == ["/fhir/Location/loc-asc-1"]
    assert _audited_reads(app, instance) == 1


def test_without_prefetch_each_resource_is_read_once(app, caller, fhir):
    """The ordering practitioner's role is both the ``user`` and the order's requester: one read."""
    instance, _answer = _sign(caller, fhir, {})
    paths = [e["path"] for e in fhir.log() if "?" not in e["path"]]
    assert paths.count("/fhir/PractitionerRole/role-pain-1") == 1
    assert _audited_reads(app, instance) == len(fhir.log())


def test_partial_prefetch_is_read_in_one_parallel_round(app, caller, fhir, monkeypatch):
    """The missing history and what the order points to go out together; the order's organization
    (read by nothing) is not asked for, so no second round waits on the EHR."""
    from cds_service.fhir import rounds
    from tests.support.hook_requests import load

    sizes: list[int] = []
    real_run = rounds.run

    def counted(client, jobs, raw=None):
        sizes.append(len(jobs))
        return real_run(client, jobs, raw)

    monkeypatch.setattr(rounds, "run", counted)
    order = load("orders.json")["esi"]
    order["performer"] = [{"reference": "Organization/org-cms"}]
    prefetch = {k: v for k, v in full_prefetch().items() if k not in ("procedures", "observations")}
    body = hook_body(orders=[order], prefetch=prefetch, fhir_server=fhir.base, token="tok-" + uuid.uuid4().hex)
    assert caller.post(SIGN, body).status_code == 200
    paths = sorted(e["path"] for e in fhir.log())
    assert paths[:1] == ["/fhir/Location/loc-asc-1"] and "/fhir/Observation" in paths and "/fhir/Procedure" in paths
    assert not any(p.startswith("/fhir/Organization") for p in paths)
    assert len(sizes) == 1
