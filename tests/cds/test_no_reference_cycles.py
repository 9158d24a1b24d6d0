"""A hook call leaves no reference cycles of its own behind (speed): what a call allocates
is freed by reference counting when the call ends, so the worker's collection between requests
(cds_service/gunicorn_conf.py ``post_request``) has nothing of it to scan. A cycle through the
indexed chart once kept every chart item and the whole parsed record alive until a collection,
~1 ms of garbage collection per 500-resource call (bench/RESULTS.md).
"""

from __future__ import annotations

import gc
from datetime import date

import pytest

from bench import patients
from cds_service.clock import today_utc
from cds_service.policy import engine
from cds_service.policy.loader import load_policies
from cds_service.policy.record import PatientRecord


def _cyclic_garbage(action) -> list:
    """The objects ``action`` leaves that only the cycle collector could free."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        action()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _ours(garbage: list) -> list:
    """Objects of painpa's own types, and FHIR resources (the parsed request)."""
    return [o for o in garbage
            if type(o).__module__.startswith(("cds_service", "smart_app"))
            or (isinstance(o, dict) and "resourceType" in o)]


def test_policy_evaluation_leaves_no_cycles():
    today = date(2026, 11, 29)
    history = patients.make_patient(50, today)
    body = patients.hook_body("order-sign", today, prefetch_values=patients.prefetch(history))
    record = PatientRecord.from_resources(body["prefetch"].values())
    orders = [e["resource"] for e in body["context"]["draftOrders"]["entry"]]
    policies = load_policies()

    def evaluate() -> None:
        determinations = engine.evaluate(orders, record, policies, today)
        assert determinations[0].family == "esi" and determinations[0].requirements   # the chart was read

    assert _ours(_cyclic_garbage(evaluate)) == []


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_a_hook_call_leaves_no_cycles_of_its_own(caller, hook):
    today = today_utc()
    history = patients.make_patient(50, today)
    body = patients.hook_body(hook, today, prefetch_values=patients.prefetch(history))
    service = f"painpa-{hook}"
    assert caller.post(service, body).status_code == 200    # warm: first-use caches are not garbage

    def call() -> None:
        resp = caller.post(service, body)
        assert resp.status_code == 200 and resp.get_json()["cards"]

    left = _ours(_cyclic_garbage(call))
    assert left == [], sorted({type(o).__qualname__ for o in left})


def test_a_call_that_queries_the_fhir_server_leaves_no_cycles_of_its_own(caller, fhir):
    from tests.support.hook_requests import hook_body

    body = hook_body("order-sign", fhir_server=fhir.base, token="garbage-test-token")
    assert caller.post("painpa-order-sign", body).status_code == 200

    def call() -> None:
        body["fhirAuthorization"]["access_token"] += "x"   # a new token: no warm cache, real queries
        queried = len(fhir.log())
        resp = caller.post("painpa-order-sign", body)
        assert resp.status_code == 200 and resp.get_json()["cards"]
        assert len(fhir.log()) > queried

    left = _ours(_cyclic_garbage(call))
    assert left == [], sorted({type(o).__qualname__ for o in left})
