"""Response shape and coverage information on real evaluations (CDS Hooks 2.0 §CDS Service Response;
CRD cards.md and coverage-information): CC-33..CC-49, plus the SMART link's appContext handle."""

from __future__ import annotations

import json

import pytest

from cds_service import applinks, state
from tests.support.hook_requests import SELECT, SIGN, full_prefetch, hook_body, load
from tests.support.response_checks import check_coverage_information, check_shape, coverage_infos

ESI = "ServiceRequest/sr-esi-1"
TOKEN = "response-test-token-abcdefghijkl"

SCENARIOS = {
    "sign-2.0.1-prefetch": lambda fhir: hook_body(prefetch=full_prefetch()),
    "sign-2.2-prefetch": lambda fhir: hook_body(prefetch=full_prefetch(),
                                                extension={"davinci-crd.requestedVersion": "2.2"}),
    "sign-fhir-query": lambda fhir: hook_body(fhir_server=fhir.base, token=TOKEN),
    "sign-two-orders": lambda fhir: hook_body(orders=[load("orders.json")["esi"], load("orders.json")["other"]],
                                              prefetch=full_prefetch()),
    "select-2.0.1": lambda fhir: hook_body("order-select", prefetch=full_prefetch()),
    "select-2.2-fhir": lambda fhir: hook_body("order-select", fhir_server=fhir.base, token=TOKEN,
                                              extension={"davinci-crd.requestedVersion": "2.2"}),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_cc33_to_cc49_on_each_scenario(caller, fhir, name):
    body = SCENARIOS[name](fhir)
    service = SELECT if body["hook"] == "order-select" else SIGN
    resp = caller.post(service, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = resp.get_json()
    check_shape(out, body)
    in_scope = {ESI} if body["hook"] == "order-sign" else set()
    check_coverage_information(out, body, in_scope=in_scope)


def test_cc42_order_sign_annotates_the_esi_order(caller):
    body = hook_body(prefetch=full_prefetch())
    out = caller.post(SIGN, body).get_json()
    refs = [f"{a['resource']['resourceType']}/{a['resource']['id']}" for a, _ in coverage_infos(out)]
    assert ESI in refs


def test_cc40_app_context_is_an_opaque_handle_that_redeems_once(app, caller, fhir):
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    out = caller.post(SIGN, body).get_json()
    links = [link for card in out["cards"] for link in card.get("links", []) if link["type"] == "smart"]
    if not links:
        pytest.skip("the policy found nothing to fix for this order; no SMART link issued")
    link = links[0]
    assert link["url"] == f"{caller.base}/smart/launch"
    handle = json.loads(link["appContext"])["ctx"]
    payload = applinks.redeem(state.of(app).db, handle)
    assert payload["patient"] == "pt-esi-1" and payload["hookInstance"] == body["hookInstance"]
    assert payload["fhirServer"] == fhir.base and ESI in payload["orders"]
    assert TOKEN not in json.dumps(payload)
    assert applinks.redeem(state.of(app).db, handle) is None
