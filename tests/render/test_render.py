"""render_response: cards and coverage-information systemActions (CDS Hooks 2.0 response; CRD
cards.md; standards.md §10 D/E: CC-31, CC-34, CC-39, CC-41..CC-49)."""

from __future__ import annotations

import json
import re

import pytest

from cds_service.policy.engine import evaluate
from cds_service.render import CARD_TOPICS, TOPIC_CODES, render_response
from cds_service.render.coverage import COVERAGE_INFO_URL, strip_coverage_information
from cds_service.render.invariants import violations
from tests.support import fhir_builders as b
from tests.support.fake_smart_link import fake_smart_link

TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
CARD_TYPE = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
NUTRITION = {"resourceType": "NutritionOrder", "id": "diet-1", "status": "draft", "intent": "order",
             "patient": {"reference": "Patient/pt-1"}, "dateTime": "2026-11-29",
             "extension": [{"url": "existing_extension", "valueString": "kept"}]}


def _messy_patient():
    """An ESI order with several problems (2 weeks of care, no score, no PA) plus a diet order."""
    p = b.Patient().add(b.coverage("121", name="Medicare"), b.location("TX", "11"), b.condition("M54.16", b.days(200)),
                        b.procedure("97110", b.days(20)), b.procedure("97110", b.days(6)), b.imaging("MR", b.days(30)))
    return [b.order("64483"), NUTRITION], p


def _render(policies, hook="order-sign", version="2.2", config=None, orders_patient=None):
    orders, p = orders_patient or _messy_patient()
    dets = evaluate(orders, p.record(), policies, b.TODAY)
    return orders, dets, render_response(dets, orders, hook=hook, crd_version=version, config=config or {},
                                         today=b.TODAY, smart_link=fake_smart_link)


def test_cards_worst_first_with_actionable_summaries(policies):
    _, _, resp = _render(policies)
    summaries = [c["summary"] for c in resp["cards"]]
    assert summaries[0] == "WISeR prior authorization required — no UTN on file (64483 + companion codes at risk)"
    assert "Conservative therapy: 2 of 4 required weeks documented" in summaries
    assert "No baseline pain score on file" in summaries
    assert summaries[-1].startswith("Policy: LCD L36920")
    for card in resp["cards"]:                                      # CC-34
        assert 0 < len(card["summary"]) <= 139
        assert card["indicator"] in ("info", "warning") and card["source"]["label"] == "Medicare"
        assert re.fullmatch(r"[0-9a-f-]{36}", card["uuid"])
        types = {link["type"] for link in card.get("links", ())}
        assert len(types) <= 1                                      # CC-39: never mixed
        assert card["extension"]["davinci-crd.associated-resource"] == ["ServiceRequest/sr-1"]


def test_problem_cards_carry_the_smart_link_and_policy_card_an_absolute_link(policies):
    _, _, resp = _render(policies)
    by_topic = {c["source"]["topic"]["code"]: c for c in resp["cards"]}
    care = by_topic["therapy-alternatives-req"]
    assert care["links"][0]["type"] == "smart"
    assert json.loads(care["links"][0]["appContext"])["ctx"].endswith("#esi.conservative-care")
    policy = by_topic["guideline"]
    assert policy["links"] == [{"label": policy["links"][0]["label"], "url": "https://www.cms.gov/medicare-coverage-database/view/lcd.aspx?lcdid=36920", "type": "absolute"}]


def test_smart_link_callback_may_decline(policies):
    orders, p = _messy_patient()
    dets = evaluate(orders, p.record(), policies, b.TODAY)
    resp = render_response(dets, orders, hook="order-sign", crd_version="2.2", config={}, today=b.TODAY,
                           smart_link=lambda det, req: None)
    assert all(link["type"] == "absolute" for c in resp["cards"] for link in c.get("links", ()))


@pytest.mark.parametrize(("version", "system"), [("2.0.1", TEMP), ("2.1", TEMP), ("2.2", CARD_TYPE)])
def test_topic_system_follows_crd_version(policies, version, system):                    # CC-41
    _, _, resp = _render(policies, version=version)
    assert {c["source"]["topic"]["system"] for c in resp["cards"]} == {system}
    assert {c["source"]["topic"]["code"] for c in resp["cards"]} <= set(TOPIC_CODES)


def test_configuration_topics_and_max_cards(policies):                                    # CC-31
    _, _, resp = _render(policies, config={"guideline": False, "therapy-alternatives-req": False, "unknown-key": 3})
    codes = {c["source"]["topic"]["code"] for c in resp["cards"]}
    assert "guideline" not in codes and "therapy-alternatives-req" not in codes and resp["cards"]
    _, _, resp = _render(policies, config={"max-cards": 1})
    assert len(resp["cards"]) == 1 and resp["cards"][0]["summary"].startswith("WISeR prior authorization required")
    _, _, resp = _render(policies, config={"coverage-info": False})
    assert "systemActions" not in resp


def test_order_sign_updates_every_order_and_changes_nothing_else(policies):               # CC-42, CC-43
    orders, dets, resp = _render(policies)
    actions = resp["systemActions"]
    assert [(a["resource"]["resourceType"], a["resource"]["id"]) for a in actions] == [("ServiceRequest", "sr-1"), ("NutritionOrder", "diet-1")]
    for action, order in zip(actions, orders, strict=True):
        assert action["type"] == "update" and action["description"]
        assert strip_coverage_information(action["resource"]) == strip_coverage_information(order)
        assert [e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFO_URL]
    assert {"url": "existing_extension", "valueString": "kept"} in actions[1]["resource"]["extension"]


def test_an_earlier_coverage_information_extension_is_replaced(policies):
    orders, p = _messy_patient()
    orders[0]["extension"] = [{"url": COVERAGE_INFO_URL, "extension": [{"url": "covered", "valueCode": "covered"}]}]
    _, _, resp = _render(policies, orders_patient=(orders, p))
    exts = [e for e in resp["systemActions"][0]["resource"]["extension"] if e["url"] == COVERAGE_INFO_URL]
    assert len(exts) == 1 and violations(exts[0], "2.2") == []


def test_out_of_scope_orders_get_an_honest_answer_per_version(policies):
    for version, covered in (("2.0.1", "conditional"), ("2.2", "indeterminate")):
        _, _, resp = _render(policies, version=version)
        ext = resp["systemActions"][1]["resource"]["extension"][-1]
        values = {s["url"]: next(v for k, v in s.items() if k.startswith("value")) for s in ext["extension"]}
        assert values["covered"] == covered and values["pa-needed"] == covered
        assert "painpa makes no determination" in values["reason"]["text"]
        assert violations(ext, version) == []
        assert [c for c in resp["cards"] if c["extension"]["davinci-crd.associated-resource"] == ["NutritionOrder/diet-1"]] == []


def test_order_select_answers_its_selections_without_doc_needed(policies):                # CC-48 by construction
    orders, _, resp = _render(policies, hook="order-select", version="2.0.1")
    assert resp["cards"]
    actions = resp["systemActions"]
    assert [a["resource"]["id"] for a in actions] == [o["id"] for o in orders]
    for action in actions:
        ext = next(e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFO_URL)
        assert not {s["url"] for s in ext["extension"]} & {"doc-needed", "doc-purpose"}
        assert violations(ext, "2.0.1") == []


def test_assertion_ids_are_stable_per_coverage(policies):                                 # CC-47
    _, _, first = _render(policies)
    _, _, again = _render(policies)
    ids = [[s["valueString"] for s in a["resource"]["extension"][-1]["extension"] if s["url"] == "coverage-assertion-id"]
           for a in first["systemActions"]]
    ids_again = [[s["valueString"] for s in a["resource"]["extension"][-1]["extension"] if s["url"] == "coverage-assertion-id"]
                 for a in again["systemActions"]]
    assert ids == ids_again and len({i[0] for i in ids}) == 2


def test_no_coverage_means_no_coverage_information(policies):
    orders, p = _messy_patient()
    p.resources = [r for r in p.resources if r["resourceType"] != "Coverage"]
    for o in orders:
        o.pop("insurance", None)
    _, dets, resp = _render(policies, orders_patient=(orders, p))
    assert "systemActions" not in resp
    assert dets[0].program.label == "No coverage on file"
    assert resp["cards"][0]["summary"] == "No active coverage on file — payer rules unknown"


def test_topic_list_is_unique_and_described():
    codes = [c for c, _, _ in CARD_TOPICS]
    assert len(codes) == len(set(codes)) and all(d and desc for _, d, desc in CARD_TOPICS)


def test_satisfied_carries_the_utn_and_expiry_only_in_2_2(policies):                      # CC-49, q5
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("TX", "11")))
    p.add(b.decision(("64483",), "A1", b.days(30)))
    orders = [b.order("64483")]
    for version, expiry in (("2.0.1", None), ("2.2", "2027-03-09")):
        _, _, resp = _render(policies, version=version, orders_patient=(orders, p))
        subs = {s["url"]: s for s in resp["systemActions"][0]["resource"]["extension"][-1]["extension"]}
        assert subs["pa-needed"]["valueCode"] == "satisfied"
        assert subs["satisfied-pa-id"]["valueString"] == "JFA00000000001"
        assert subs.get("expiry-date", {}).get("valueDate") == expiry


def test_one_policy_card_per_policy_and_cards_name_their_order(policies):
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("TX", "11")))
    orders = [b.order("64483"), b.order("64479", sid="sr-2")]
    _, _, resp = _render(policies, orders_patient=(orders, p))
    assert len([c for c in resp["cards"] if c["source"]["topic"]["code"] == "guideline"]) == 1
    pa_cards = [c for c in resp["cards"] if c["summary"].startswith("WISeR prior authorization required")]
    assert [c["extension"]["davinci-crd.associated-resource"] for c in pa_cards] == [["ServiceRequest/sr-1"], ["ServiceRequest/sr-2"]]
    assert "ServiceRequest/sr-2" in pa_cards[1]["detail"]
