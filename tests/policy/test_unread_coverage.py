"""Coverage the EHR did not return (CRD foundation "Performance"; found by fault injection; CC-44..CC-49,
CC-56): the policy itself says the plan is unknown *because Coverage could not be read* — every
requirement unknown, none unmet, conditional with info-needed OTH and a reason naming Coverage — and
the card says "Could not verify coverage", never "no rules configured" or "no coverage on file"."""

from __future__ import annotations

import pytest

from cds_service.policy.engine import evaluate
from cds_service.policy.model import ProgramKind, Status
from cds_service.render import render_response
from cds_service.render.coverage import COVERAGE_INFO_URL
from cds_service.render.invariants import violations
from tests.support import fhir_builders as b
from tests.support.fake_smart_link import fake_smart_link


def _unread(chart=b.esi_ready, codes=("64483",), **order_kw):
    """A patient in a WISeR state whose Coverage query failed; the rest of the chart was read."""
    p = chart(b.Patient().add(b.location("TX", "11")))
    p.incomplete = {"Coverage"}
    return [b.order(*codes, **order_kw)], p


@pytest.mark.parametrize("chart", [b.esi_ready, lambda p: p], ids=["chart-complete", "chart-empty"])
def test_policy_says_coverage_was_not_read_and_judges_nothing_unmet(policies, chart):
    orders, p = _unread(chart)
    det = evaluate(orders, p.record(), policies, b.TODAY)[0]
    assert det.program.kind is ProgramKind.UNKNOWN_PLAN and det.unread == ("Coverage",)
    assert (det.covered, det.pa_needed, det.doc_needed) == ("conditional", "conditional", None)
    assert det.info_needed == ("OTH",)
    assert "did not return the patient's Coverage" in det.reason and "unknown" in det.reason
    assert all(r.status is Status.UNKNOWN for r in det.requirements)   # never "unmet" for unseen rules
    assert not det.unmet and not det.companion_codes_at_risk


@pytest.mark.parametrize("version", ["2.0.1", "2.2"])
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_card_and_coverage_information_say_coverage_could_not_be_verified(policies, version, hook):
    orders, p = _unread()
    dets = evaluate(orders, p.record(), policies, b.TODAY)
    resp = render_response(dets, orders, hook=hook, crd_version=version, config={}, today=b.TODAY,
                           smart_link=fake_smart_link)
    summaries = [c["summary"] for c in resp["cards"]]
    assert ": Could not verify coverage" in summaries[0] and "Coverage" in summaries[0]
    assert resp["cards"][0]["indicator"] == "warning"
    assert "nothing was found unmet" in resp["cards"][0]["detail"]
    assert not any(w in s for s in summaries for w in ("No coverage rules configured", "No active coverage"))
    assert not any("prior authorization required" in s.lower() for s in summaries)
    ext = next(e for e in resp["systemActions"][0]["resource"]["extension"] if e["url"] == COVERAGE_INFO_URL)
    assert violations(ext, version) == []
    subs = {s["url"]: s for s in ext["extension"]}
    assert subs["coverage"]["valueReference"]["reference"] == "Coverage/cov-1"   # the order's own insurance
    assert (subs["covered"]["valueCode"], subs["pa-needed"]["valueCode"]) == ("conditional", "conditional")
    assert subs["info-needed"]["valueCode"] == "OTH" and "Coverage" in subs["reason"]["valueCodeableConcept"]["text"]
    assert "doc-needed" not in subs


def test_without_an_insurance_reference_there_is_no_coverage_information_but_the_card_stays(policies):
    orders, p = _unread(cov=None)
    dets = evaluate(orders, p.record(), policies, b.TODAY)
    resp = render_response(dets, orders, hook="order-sign", crd_version="2.2", config={}, today=b.TODAY,
                           smart_link=fake_smart_link)
    assert "systemActions" not in resp                       # 2.2: no Coverage instance, no extension
    assert ": Could not verify coverage" in resp["cards"][0]["summary"]


def test_a_coverage_that_did_arrive_or_a_query_that_succeeded_keeps_the_ordinary_answer(policies):
    orders, p = _unread()
    p.add(b.coverage("121", name="Medicare"))                # Coverage partly read: route on what arrived
    det = evaluate(orders, p.record(), policies, b.TODAY)[0]
    assert det.program.kind is ProgramKind.WISER and det.unread == ()
    orders, p = _unread()
    p.incomplete = set()                                     # query succeeded, patient has no coverage
    det = evaluate(orders, p.record(), policies, b.TODAY)[0]
    assert det.program.label == "No coverage on file" and det.unread == ()
    resp = render_response([det], orders, hook="order-sign", crd_version="2.2", config={}, today=b.TODAY,
                           smart_link=fake_smart_link)
    assert resp["cards"][0]["summary"].endswith(": No active coverage on file — payer rules unknown")
