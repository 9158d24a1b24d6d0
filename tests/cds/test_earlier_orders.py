"""Earlier orders' ``satisfied-pa-id`` (Da Vinci CRD coverage-information on an order the payer already
authorized; ARCHITECTURE.md "prior-authorization decisions ... plus satisfied-pa-id on earlier
orders"): the patient's ServiceRequests are read, by prefetch or by querying the EHR's FHIR server
(CC-4, CC-5 template), and a draft order's own stored copy is never its "earlier order".
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import replace

import pytest
import requests

from cds_service import clients, state
from cds_service.app import create_app
from cds_service.fhir.queries import QUERIES
from tests.support import jwt as tjwt
from tests.support.cds_caller import Caller
from tests.support.hook_requests import ISS, SIGN, full_prefetch, hook_body, load, record_resources
from tests.support.procs import free_port, running
from tests.support.response_checks import coverage_infos

CI_URL = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
TOKEN = "earlier-orders-token-0123456789abcdef"
EARLIER_UTN = "JHA10000000777"


def _signed_order(sid: str, utn: str, *, status: str = "active") -> dict:
    """The ESI order as the EHR stored it after a payer asserted ``pa-needed = satisfied`` for it."""
    order = copy.deepcopy(load("orders.json")["esi"])
    order.update(id=sid, status=status, authoredOn="2026-11-05", occurrenceDateTime="2026-11-12")
    order["extension"] = [{"url": CI_URL, "extension": [
        {"url": "coverage", "valueReference": {"reference": "Coverage/cov-mcr-1"}},
        {"url": "covered", "valueCode": "covered"},
        {"url": "pa-needed", "valueCode": "satisfied"},
        {"url": "satisfied-pa-id", "valueString": utn},
        {"url": "date", "valueDate": "2026-11-05"},
        {"url": "expiry-date", "valueDate": "2027-03-04"},
        {"url": "coverage-assertion-id", "valueString": "payer-assertion-1"}]}]
    return order


def _assertion(out: dict, order_ref: str) -> dict:
    for action, ext in coverage_infos(out):
        if f"{action['resource']['resourceType']}/{action['resource']['id']}" == order_ref:
            return {s["url"]: next(v for k, v in s.items() if k.startswith("value")) for s in ext["extension"]}
    raise AssertionError(f"no coverage-information for {order_ref}")


def _sr_bundle(*orders: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": o} for o in orders]}


def test_service_request_query_is_a_plain_prefetch_template():
    q = next(q for q in QUERIES if q.key == "serviceRequests")
    # CC-4 / CC-5: context tokens only; no _include, chaining or modifiers.
    assert (q.template, q.resource_type) == ("ServiceRequest?patient={{context.patientId}}", "ServiceRequest")


def test_earlier_order_in_prefetch_satisfies_the_new_order(caller):
    prefetch = {**full_prefetch(), "serviceRequests": _sr_bundle(_signed_order("sr-esi-0", EARLIER_UTN))}
    out = caller.post(SIGN, hook_body(prefetch=prefetch)).get_json()
    info = _assertion(out, "ServiceRequest/sr-esi-1")
    assert info["pa-needed"] == "satisfied" and info["satisfied-pa-id"] == EARLIER_UTN


def test_a_draft_is_not_its_own_earlier_order(caller):
    """The EHR's stored copy of the order being signed (same id) carries an earlier answer about this
    very order; neither it nor its sibling in the same call may take it as an earlier authorization."""
    esi = load("orders.json")["esi"]
    sibling = {**copy.deepcopy(esi), "id": "sr-esi-2"}
    stale = _signed_order("sr-esi-1", "JHA10000000999")         # same id as the draft being signed
    # The PA searches answered "none on file" (an empty searchset): without fhirAuthorization a null key
    # cannot be re-queried, and unread PA records make the PA state unknown rather than auth-needed.
    prefetch = {**full_prefetch(), "serviceRequests": _sr_bundle(stale),
                "priorAuthResponses": _sr_bundle(), "priorAuthClaims": _sr_bundle()}
    out = caller.post(SIGN, hook_body(orders=[esi, sibling], prefetch=prefetch)).get_json()
    for ref in ("ServiceRequest/sr-esi-1", "ServiceRequest/sr-esi-2"):
        info = _assertion(out, ref)
        assert info["pa-needed"] == "auth-needed" and "satisfied-pa-id" not in info, ref
    # With a genuinely earlier order beside the stale copy, both drafts are satisfied by that one only.
    prefetch["serviceRequests"] = _sr_bundle(stale, _signed_order("sr-esi-0", EARLIER_UTN))
    out = caller.post(SIGN, hook_body(orders=[esi, sibling], prefetch=prefetch)).get_json()
    assert {_assertion(out, r)["satisfied-pa-id"] for r in ("ServiceRequest/sr-esi-1", "ServiceRequest/sr-esi-2")} \
        == {EARLIER_UTN}


@pytest.fixture(scope="module")
def earlier_fhir(tmp_path_factory):
    """The fixture FHIR server holding the record plus the signed earlier order and a stale stored
    copy of the draft (what prefetch-less order-sign must find by querying)."""
    data = tmp_path_factory.mktemp("earlier") / "record.json"
    data.write_text(json.dumps(record_resources() + [_signed_order("sr-esi-0", EARLIER_UTN),
                                                     _signed_order("sr-esi-1", "JHA10000000999")]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(port), "--data", str(data),
           "--token", TOKEN]
    with running(cmd, ready_url=f"{base}/fhir/metadata"):
        yield base


def test_earlier_order_is_found_by_querying_the_fhir_server(settings, es_key, earlier_fhir):
    app = create_app(replace(settings, fhir_deadline_s=3.0, fhir_read_timeout_s=2.0))
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(es_key), fhir_bases=[f"{earlier_fhir}/fhir"],
                       tenant=None, default_state="TX", default_pos="24")
    try:
        resp = Caller(app, es_key).post(SIGN, hook_body(fhir_server=f"{earlier_fhir}/fhir", token=TOKEN))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        info = _assertion(resp.get_json(), "ServiceRequest/sr-esi-1")
        assert info["pa-needed"] == "satisfied" and info["satisfied-pa-id"] == EARLIER_UTN
        asked = [e for e in requests.get(f"{earlier_fhir}/_log", timeout=5).json() if e["path"] == "/fhir/ServiceRequest"]
        assert asked and asked[0]["query"] == "patient=pt-esi-1" and asked[0]["token_ok"]
    finally:
        state.of(app).db.dispose()
