"""Imported denials change the cards of later orders of the same plan (CMS-0057-F specific
reasons, domain.md §3, fed into the CRD cards of standards.md §2.4): the real engine evaluates an
order, the CDS layer's hook adds the plan's history, the real renderer writes the cards."""

from __future__ import annotations

import copy
from datetime import date

from cds_service.denials.evidence import PastDecision, apply_evidence, summarize
from cds_service.denials.rules import default_data
from cds_service.denials.stats import load_evidence
from cds_service.policy.engine import evaluate
from cds_service.policy.record import PatientRecord, TenantDefaults
from tests.support.denial_cards import COVERAGE, PATIENT, RADICULOPATHY, TODAY, cards_for, order


def test_imported_denials_appear_on_a_later_orders_card(seeded, settings, policies):
    cards = cards_for(seeded, settings, policies, COVERAGE)
    conservative = [c for c in cards if "denied 4 of its last 10 lumbar ESIs for missing conservative-care" in c["detail"]]
    assert len(conservative) == 1
    assert conservative[0]["detail"].index("**Fix:**") < conservative[0]["detail"].index("denied 4 of its last 10")
    assert all(len(c["summary"]) < 140 for c in cards)
    baseline = [c for c in cards if "denied 1 of its last 10 lumbar ESIs for missing baseline" in c["detail"]]
    assert len(baseline) == 1


def test_other_plan_of_the_same_payer_gets_its_own_history(seeded, settings, policies):
    silver = copy.deepcopy(COVERAGE)
    silver["class"][0].update(value="SILVER", name="Silver PPO")
    details = " ".join(c["detail"] for c in cards_for(seeded, settings, policies, silver))
    assert "lumbar ESIs for missing conservative-care" not in details
    assert "denied 1 of its last 1 lumbar ESIs for missing or non-concordant imaging" in details


def test_no_history_no_change(db, settings, policies):
    without = [c["detail"] for c in cards_for(None, settings, policies, COVERAGE)]
    assert [c["detail"] for c in cards_for(db, settings, policies, COVERAGE)] == without
    assert not any("denied" in d and "of its last" in d for d in without)


def test_summary_counts_only_the_window_and_each_decision_once():
    past = [PastDecision(date(2026, 10, 30 - i), "denied" if i < 3 else "affirmed",
                         ("esi.conservative-care", "esi.conservative-care") if i < 3 else ()) for i in range(12)]
    ev = summarize(past, window=10, payer="P", plan="Gold", group_label="lumbar ESIs",
                   phrases={"esi.conservative-care": "missing PT duration"})
    assert (ev.considered, ev.denied, ev.by_requirement[0].count) == (10, 3, 3)
    assert ev.sentence("esi.conservative-care") == "This plan (Gold) denied 3 of its last 10 lumbar ESIs for missing PT duration."
    assert apply_evidence([], {}) == []


def test_one_call_with_orders_on_several_plans_gets_each_plans_history(seeded, policies):
    # One hook call, several orders: the evidence is read in one query for all of them, and each
    # order gets exactly what it would get alone (SQLite and PostgreSQL).
    silver = copy.deepcopy(COVERAGE)
    silver["id"] = "cov2"
    silver["class"][0].update(value="SILVER", name="Silver PPO")
    orders = [order(), {**order(), "id": "sr2", "insurance": [{"reference": "Coverage/cov2"}]},
              {**order("64490"), "id": "sr3"}, {**order("99213"), "id": "sr4"}, {**order(), "id": "sr5"}]
    record = PatientRecord.from_resources([PATIENT, COVERAGE, silver, RADICULOPATHY],
                                          defaults=TenantDefaults(state="TX", place_of_service="11"))
    dets = evaluate(orders, record, policies, TODAY)
    together = load_evidence(seeded, dets, record, default_data())
    alone = {ref: ev for det in dets for ref, ev in load_evidence(seeded, [det], record, default_data()).items()}
    assert together == alone
    assert {"ServiceRequest/sr1", "ServiceRequest/sr2", "ServiceRequest/sr5"} <= set(together)
    assert together["ServiceRequest/sr1"] == together["ServiceRequest/sr5"]      # same plan, same history
    assert together["ServiceRequest/sr1"] != together["ServiceRequest/sr2"]      # Gold vs Silver
    assert "ServiceRequest/sr4" not in together                                  # an office visit: no group
