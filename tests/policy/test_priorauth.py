"""Prior-authorization decisions (ARCHITECTURE.md; standards.md §4.2 PAS ClaimResponse; CMS WISeR guide
v6.0 §4.3: affirmed 2026-01-05 is valid for dates of service through 2026-05-04)."""

from __future__ import annotations

from datetime import date

import pytest

from cds_service.policy.engine import evaluate
from cds_service.policy.explain import explain
from cds_service.policy.model import PAState
from cds_service.policy.priorauth import collect, status
from cds_service.render import render_response
from cds_service.render.coverage import COVERAGE_INFO_URL
from cds_service.render.invariants import violations
from tests.support import fhir_builders as b
from tests.support.fake_smart_link import fake_smart_link


def _state(resources, codes=("64483",), dos=date(2026, 5, 4), validity=120):
    record = b.Patient().add(*resources).record()
    return status(codes, collect(record), dos, validity)


def test_wiser_120_day_validity_matches_the_guide_example():
    affirmed = b.decision(("64483",), "A1", date(2026, 1, 5))
    assert _state(affirmed, dos=date(2026, 5, 4)).state is PAState.SATISFIED
    assert _state(affirmed, dos=date(2026, 5, 4)).expires == date(2026, 5, 4)
    assert _state(affirmed, dos=date(2026, 5, 5)).state is PAState.EXPIRED


def test_explicit_pre_auth_period_wins_over_program_validity():
    affirmed = b.decision(("64483",), "A1", date(2026, 1, 5), end=date(2026, 2, 1))
    assert _state(affirmed, dos=date(2026, 3, 1)).state is PAState.EXPIRED


def test_review_action_codes():
    assert _state(b.decision(("64483",), "A3", date(2026, 4, 1))).state is PAState.NON_AFFIRMED
    assert _state(b.decision(("64483",), "A4", date(2026, 4, 1))).state is PAState.PENDED
    assert _state([]).state is PAState.NEEDED


def test_outcome_and_pre_auth_ref_without_pas_review_action():
    assert _state(b.decision(("64483",), None, date(2026, 4, 1))).utn == "JFA00000000001"
    queued = b.decision(("64483",), None, date(2026, 4, 1), outcome="queued")
    assert _state(queued).state is PAState.PENDED


def test_partial_lists_the_codes_the_decision_does_not_cover():
    st = _state(b.decision(("64483",), "A1", date(2026, 4, 1)), codes=("64483", "64484"))
    assert st.state is PAState.PARTIAL
    assert (st.covered_codes, st.missing_codes) == (("64483",), ("64484",))


def test_modified_decision_affirms_add_item_codes_only():
    cr, claim = b.decision(("64483", "64484"), "A6", date(2026, 4, 1))
    cr["addItem"] = [{"productOrService": {"coding": [{"system": b.CPT, "code": "64483"}]}}]
    st = _state([cr, claim], codes=("64483", "64484"))
    assert st.state is PAState.NON_AFFIRMED          # 64484 was modified away: not authorized
    assert (st.covered_codes, st.missing_codes) == (("64483",), ("64484",))


def test_newest_decision_decides_unless_a_valid_one_covers_everything():
    old = b.decision(("64483",), "A1", date(2025, 6, 1))
    newer = b.decision(("64483",), "A4", date(2026, 4, 20))
    assert _state(old + newer).state is PAState.PENDED
    valid = b.decision(("64483",), "A1", date(2026, 3, 1))
    assert _state(old + newer + valid).state is PAState.SATISFIED


def test_entered_in_error_and_non_preauth_claim_responses_are_ignored():
    cr, claim = b.decision(("64483",), "A1", date(2026, 4, 1))
    cr["status"] = "entered-in-error"
    assert _state([cr, claim]).state is PAState.NEEDED
    cr2, claim2 = b.decision(("64483",), "A1", date(2026, 4, 1))
    cr2["use"] = "claim"
    assert _state([cr2, claim2]).state is PAState.NEEDED


def test_short_utn_is_noted_for_wiser(policies):
    from cds_service.policy.engine import evaluate
    p = b.esi_ready(b.Patient().add(b.coverage("121"), b.location("TX", "11")))
    p.add(b.decision(("64483",), "A1", b.days(10), utn="12345"))
    det = evaluate([b.order("64483")], p.record(), policies, b.TODAY)[0]
    assert det.pa_needed == "satisfied"
    assert any("5 characters" in n for n in det.notes)


# --- PA records the EHR did not return: unknown, never "needed" (a guess) --------------------------

def _wiser_esi(unread: set[str], *decisions: list[dict], codes=("64483",)):
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("TX", "11"), *decisions))
    p.incomplete = set(unread)
    return [b.order(*codes)], p


@pytest.mark.parametrize("unread", ["ClaimResponse", "Claim", "ServiceRequest"])
def test_unread_pa_records_make_the_pa_state_unknown_with_an_honest_reason(policies, unread):
    orders, p = _wiser_esi({unread})
    det = evaluate(orders, p.record(), policies, b.TODAY)[0]
    assert det.prior_auth.state is PAState.UNKNOWN and det.prior_auth.unread == (unread,)
    assert det.pa_needed == "conditional" and "OTH" in det.info_needed
    assert unread in det.reason and "unknown" in det.reason
    for version in ("2.0.1", "2.2"):                                 # CC-44..CC-49 both versions
        for hook in ("order-select", "order-sign"):
            resp = render_response([det], orders, hook=hook, crd_version=version, config={}, today=b.TODAY,
                                   smart_link=fake_smart_link)
            assert ": Could not verify prior authorization on file" in resp["cards"][0]["summary"]
            assert not any("prior authorization required — no UTN" in c["summary"] for c in resp["cards"])
            for action in resp.get("systemActions", ()):
                ext = next(e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFO_URL)
                assert violations(ext, version) == []
                subs = {s["url"]: s for s in ext["extension"]}
                assert subs["pa-needed"]["valueCode"] == "conditional" and unread in subs["reason"]["valueCodeableConcept"]["text"]


def test_unread_pa_records_do_not_hide_a_decision_that_already_satisfies_the_order(policies):
    orders, p = _wiser_esi({"ServiceRequest"}, b.decision(("64483",), "A1", b.days(10)))
    det = evaluate(orders, p.record(), policies, b.TODAY)[0]
    assert det.prior_auth.state is PAState.SATISFIED and det.pa_needed == "satisfied"


def test_unread_pa_records_change_nothing_where_no_pa_is_needed(policies):
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("CA", "11")))
    p.incomplete = {"ClaimResponse", "Claim"}
    det = evaluate([b.order("64483")], p.record(), policies, b.TODAY)[0]
    assert (det.prior_auth.state, det.pa_needed, det.covered) == (PAState.NOT_NEEDED, "no-auth", "covered")


def test_explain_says_which_pa_records_were_not_returned(policies):
    orders, p = _wiser_esi({"ClaimResponse"})
    text = explain(evaluate(orders, p.record(), policies, b.TODAY))
    assert "Prior authorization: unknown" in text and "did not return ClaimResponse" in text
