"""Malformed FHIR never crashes evaluate/render (the CDS layer must answer 200 or a specific 4xx,
never 5xx, whatever the EHR sends). Resources are the builders' valid ones with fields replaced by
arbitrary JSON."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.policy.engine import evaluate
from cds_service.policy.explain import explain
from cds_service.render import render_response
from tests.support import fhir_builders as b

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=6)


def _valid_chart() -> list[dict]:
    b.reset_ids()
    p = b.Patient().add(b.coverage("121"), b.location("TX", "11"), b.decision(("64483",), "A1", b.days(10)),
                        b.note("word " * 50, b.days(3), "enc-1"))
    for ready in (b.esi_ready, b.scs_ready, b.pva_ready):
        ready(p)
    return p.resources + [b.order("64483", sid="sr-old")]


KEYS = ["code", "extension", "valueQuantity", "performedPeriod", "performedDateTime", "effectiveDateTime",
        "effectivePeriod", "onsetDateTime", "clinicalStatus", "status", "type", "payor", "address", "item", "request",
        "preAuthRef", "preAuthPeriod", "created", "content", "context", "dispenseRequest", "medicationCodeableConcept",
        "modality", "started", "valueBoolean", "use", "outcome", "addItem", "location"]
ORDER_KEYS = ["code", "occurrenceDateTime", "locationReference", "insurance", "reasonCode", "extension", "orderDetail",
              "performer", "requester", "contained", "occurrencePeriod"]
CHART_SIZE = len(_valid_chart())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, CHART_SIZE - 1), st.sampled_from(KEYS), JSON), min_size=1, max_size=12),
       st.sampled_from(ORDER_KEYS), JSON, JSON)
def test_corrupted_fields_never_crash(policies, edits, order_key, order_value, other_order):
    resources = _valid_chart()
    for index, key, value in edits:
        resources[index][key] = value
    order = b.order("64483", "22513")
    order[order_key] = order_value
    patient = b.Patient(resources=resources)
    dets = evaluate([order, other_order], patient.record(), policies, b.TODAY)
    assert len(dets) == 2
    explain(dets)
    for hook in ("order-sign", "order-select"):
        render_response(dets, [order, {}], hook=hook, crd_version="2.2", config={"max-cards": 3}, today=b.TODAY,
                        smart_link=lambda det, req: None)


@pytest.mark.parametrize("name", [[None], 5, {"text": "Acme"}, "   ", None])
def test_a_payer_name_that_is_not_text_is_never_shown(policies, name):
    """Found by the 10,000-case soak fuzz: a Coverage whose payor display was ``[null]`` put
    "[None]" in a card's summary and a list in ``source.label`` (CC-33: no empty values)."""
    b.reset_ids()
    cov = b.coverage("5", cid="cov-odd")
    cov["payor"][0]["display"] = name
    p = b.Patient().add(cov, b.location("TX", "11"))
    b.esi_ready(p)
    order = b.order("64483")
    dets = evaluate([order], p.record(), policies, b.TODAY)
    assert isinstance(dets[0].payer, str) and dets[0].payer.strip()
    out = render_response(dets, [order], hook="order-sign", crd_version="2.2", config={}, today=b.TODAY,
                          smart_link=lambda det, req: None)
    for card in out["cards"]:
        assert isinstance(card["source"]["label"], str) and card["source"]["label"].strip()
        assert "None" not in card["summary"] and "[" not in card["source"]["label"]


@pytest.mark.parametrize("display", [[None], 7, {"text": "x"}])
def test_a_coding_display_that_is_not_text_is_never_evidence_text(policies, display):
    """Evidence lines are shown in cards and the SMART app: a display of the wrong JSON type gives
    way to the item's own text (or none), never a list or a number."""
    b.reset_ids()
    p = b.Patient().add(b.coverage("121"), b.location("TX", "11"))
    b.esi_ready(p)
    for resource in p.resources:
        for coding in (resource.get("code") or {}).get("coding") or ():
            coding["display"] = display
    det = evaluate([b.order("64483")], p.record(), policies, b.TODAY)[0]
    shown = [ev.display for req in det.requirements for ev in req.evidence]
    assert shown and all(d is None or (isinstance(d, str) and d.strip()) for d in shown)
