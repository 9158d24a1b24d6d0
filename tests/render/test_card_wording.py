"""The wording rules of painpa's cards, over every scenario of the golden matrix (CDS Hooks 2.0
§Card and §Link; CRD cards.md; CC-34, CC-39): one card per order; summaries and link labels whole
and within their limits (never cut mid-phrase); no resource id anywhere a person reads; sources
cited once per card; the payer's denial statistics only on a card that asks the physician to act.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from cds_service.denials.evidence import DenialEvidence, RequirementCount, apply_evidence
from cds_service.policy.engine import evaluate
from cds_service.policy.model import PAState, Status
from cds_service.render import render_response
from tests.policy.scenarios import matrix
from tests.support import fhir_builders as b
from tests.support.fake_smart_link import fake_smart_link

SCENARIOS = matrix()
RESOURCE_ID = re.compile(r"\b(ServiceRequest|Procedure|Observation|Condition|ClaimResponse|Claim|Coverage|Patient|"
                         r"DocumentReference|MedicationRequest|MedicationStatement|Location|Encounter|ImagingStudy|"
                         r"DiagnosticReport|Organization|Practitioner|QuestionnaireResponse)/[A-Za-z0-9\-.]+")
STATISTIC = re.compile(r"denied \d+ of its last \d+")


def _balanced(text: str) -> bool:
    return all(text.count(a) == text.count(z) for a, z in ("()", "[]"))


def _responses(scenario, policies):
    orders, patient = scenario.build()
    dets = evaluate(orders, patient.record(), policies, b.TODAY)
    for hook, version in (("order-sign", "2.2"), ("order-select", "2.0.1")):
        yield dets, render_response(dets, orders, hook=hook, crd_version=version, config={}, today=b.TODAY,
                                    smart_link=fake_smart_link)


def check_wording(card: dict) -> None:
    summary, detail = card["summary"], card["detail"]
    labels = [link["label"] for link in card.get("links", ())]
    assert 0 < len(summary) <= 139 and "…" not in summary and _balanced(summary), summary
    for label in labels:
        assert 0 < len(label) <= 80 and "…" not in label and _balanced(label), label
    for text in (summary, detail, *labels):
        assert not RESOURCE_ID.search(text), f"resource id in {text!r}"
    assert detail.count("Sources:") <= 1 and "Source:" not in detail, detail
    if card["indicator"] == "info":     # nothing to act on: no statistics, no citations to wade through
        assert "Sources:" not in detail and not STATISTIC.search(detail), detail


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_scenario_card_follows_the_wording_rules(scenario, policies):
    for dets, resp in _responses(scenario, policies):
        orders_with_cards = [c["extension"]["davinci-crd.associated-resource"][0] for c in resp["cards"]]
        assert len(orders_with_cards) == len(set(orders_with_cards)) <= sum(d.in_scope for d in dets)
        for card in resp["cards"]:
            check_wording(card)


def test_the_wording_check_catches_what_it_should():
    good = {"summary": "Epidural steroid injection, Dec 10, 2026: 2 items missing", "indicator": "warning",
            "detail": "1. **Score**: none. Sources: LCD L36920.", "source": {"label": "Medicare"},
            "links": [{"label": "Fix 2 items in painpa"}]}
    check_wording(good)
    for bad in ({"summary": "Order ServiceRequest/abc-123: PA needed"},
                {"links": [{"label": "Fix in painpa: At least 4 weeks of noninvasive conservative care (or documented"}]},
                {"detail": "Sources: a. Sources: b."},
                {"detail": "PA valid.\n\nSource: Medicare"},
                {"indicator": "info", "detail": "UTN valid. This plan (Gold) denied 4 of its last 10 lumbar ESIs."}):
        with pytest.raises(AssertionError):
            check_wording(good | bad)


def _evidence() -> DenialEvidence:
    return DenialEvidence(payer="Medicare", plan="Gold", group_label="lumbar ESIs", considered=10, denied=4,
                          by_requirement=(RequirementCount("esi.baseline-scale", 4, "missing baseline scores"),),
                          first=date(2026, 1, 5), last=date(2026, 10, 1))


def test_denial_statistics_only_where_the_physician_has_something_to_do(policies):
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("TX", "11")))
    orders = [b.order("64483")]
    needed = evaluate(orders, p.record(), policies, b.TODAY)[0]
    assert needed.prior_auth.state is PAState.NEEDED
    det, = apply_evidence([needed], {needed.order_ref: _evidence()})
    card, = render_response([det], orders, hook="order-select", crd_version="2.2", config={}, today=b.TODAY,
                            smart_link=fake_smart_link)["cards"]
    assert "denied 4 of its last 10 lumbar ESIs" in card["detail"]      # PA to request: the history matters
    p.add(b.decision(("64483",), "A1", b.days(30)))
    satisfied = evaluate(orders, p.record(), policies, b.TODAY)[0]
    assert satisfied.prior_auth.state is PAState.SATISFIED
    det, = apply_evidence([satisfied], {satisfied.order_ref: _evidence()})
    assert det.notes                                                    # the note is there to show...
    card, = render_response([det], orders, hook="order-sign", crd_version="2.2", config={}, today=b.TODAY,
                            smart_link=fake_smart_link)["cards"]
    assert card["indicator"] == "info" and "denied" not in card["detail"]   # ...but not after the UTN
    assert "Sources:" not in card["detail"] and card["summary"].endswith("valid until 2027-03-09")
    check_wording(card)


def test_a_long_checklist_stays_short(policies):
    scenario = next(s for s in SCENARIOS if s.reqs == "unknown")
    orders, patient = scenario.build()
    det = evaluate(orders, patient.record(), policies, b.TODAY)[0]
    many = replace(det, requirements=tuple(replace(r, status=Status.UNMET, blocked_by=None, id=f"{r.id}.{n}")
                                           for n in range(3) for r in det.requirements))
    card, = render_response([many], orders, hook="order-select", crd_version="2.2", config={}, today=b.TODAY,
                            smart_link=fake_smart_link)["cards"]
    assert "\n6. " not in card["detail"] and "more on the painpa worklist" in card["detail"]
    check_wording(card)


def test_the_denial_history_is_said_once_on_a_card(policies):
    p = b.Patient().add(b.coverage("121", name="Medicare"), b.location("TX", "11"), b.condition("M54.16", b.days(200)),
                        b.procedure("97110", b.days(60)), b.procedure("97110", b.days(6)), b.imaging("MR", b.days(30)))
    orders = [b.order("64483")]
    det = evaluate(orders, p.record(), policies, b.TODAY)[0]
    assert "esi.baseline-scale" in {r.id for r in det.unmet}
    det, = apply_evidence([det], {det.order_ref: _evidence()})
    card, = render_response([det], orders, hook="order-select", crd_version="2.2", config={}, today=b.TODAY,
                            smart_link=fake_smart_link)["cards"]
    assert len(STATISTIC.findall(card["detail"])) == 1 and "for missing baseline scores" in card["detail"]
