"""A pended PAS decision followed by polling (Da Vinci PAS 2.2.1 §"Pended authorizations": without
a subscription the provider asks with ``Claim/$inquire``): the payer of this stack takes no
Subscription, so painpa records that it polls, the worklist shows the order pended, and the page's
status call asks the payer, stores the final decision over the pended one and reports it. The
subscription path is tests/sandbox/test_pas_browser.py."""

from __future__ import annotations

import re

import requests

from tests.smart.test_worklist import _open, _with_payer

WATCH = "http://painpa.org/fhir/StructureDefinition/pas-watch"


def _watch(claim_response: dict) -> dict:
    ext = next(e for e in claim_response.get("extension", []) if e["url"] == WATCH)
    return {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]}


def test_a_pended_decision_is_polled_to_its_final_answer_when_the_payer_takes_no_subscription(stack):
    ehr, payer = stack.ehrs["normal"], stack.ehrs["v1"]
    _with_payer(ehr, payer.fhir, "pat-pend", "sr-pend")
    requests.post(payer.base + "/_test/pas-pend", json={"on": True}, timeout=5).raise_for_status()
    try:
        s, page = _open(stack, ehr, "pat-pend", "sr-pend", seed=False)
        sid = page.url.rsplit("/", 1)[1]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = s.post(f"{stack.base}/smart/app/{sid}/pas", data={"csrf": csrf, "order": "ServiceRequest/sr-pend"})
        assert r.status_code == 200 and "PAS decision A4" in r.text and "pended" in r.text, r.text[-800:]
        assert 'data-testid="pa-pended-sr-pend"' in r.text
        stored = [c for c in ehr.resources("ClaimResponse") if c["patient"]["reference"] == "Patient/pat-pend"]
        assert len(stored) == 1 and _watch(stored[0])["mode"] == "polling"
        assert _watch(stored[0])["payer"] == payer.fhir
        assert not [e for e in payer.log()["fhir"] if e["path"] == "/fhir/Claim/$inquire"]
    finally:
        requests.post(payer.base + "/_test/pas-pend", json={"on": False}, timeout=5)

    status = s.get(f"{stack.base}/smart/app/{sid}/pas/status", params={"order": "ServiceRequest/sr-pend"})
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["state"] == "satisfied" and body["utn"].startswith("PAS") and "A1" in body["updated"]
    assert [e for e in payer.log()["fhir"] if e["path"] == "/fhir/Claim/$inquire"]
    after = [c for c in ehr.resources("ClaimResponse") if c["patient"]["reference"] == "Patient/pat-pend"]
    assert [c["id"] for c in after] == [stored[0]["id"]]         # the pended decision was replaced, not doubled
    assert after[0]["preAuthRef"] == body["utn"] and after[0]["request"] == stored[0]["request"]
    page = s.get(f"{stack.base}/smart/app/{sid}")
    assert 'data-testid="pa-pended-sr-pend"' not in page.text and 'data-pa="satisfied"' in page.text


def test_the_notification_endpoint_refuses_a_token_it_did_not_sign(stack):
    r = requests.post(f"{stack.base}/smart/pas/notify/not-a-token", json={"resourceType": "Bundle"}, timeout=5)
    assert r.status_code == 404
