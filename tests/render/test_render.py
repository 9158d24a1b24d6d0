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


def test_one_card_per_order_checklist_worst_first_then_the_pa_state(policies):
    _, _, resp = _render(policies)
    assert len(resp["cards"]) == 1                                  # the diet order is out of scope: no card
    card = resp["cards"][0]
    assert card["summary"] == ("Epidural steroid injection, Dec 10, 2026: Conservative therapy: 2 of 4 required weeks "
                               "documented (+1 more); then WISeR PA needed")
    detail = card["detail"]
    assert detail.startswith("**Transforaminal epidural injection, lumbar/sacral, single level** (64483) · Dec 10, 2026")
    care, score, pa = (detail.index(t) for t in ("1. **At least 4 weeks", "2. **Baseline pain", "**Prior authorization:**"))
    assert care < score < pa
    assert "no UTN on file" in detail[pa:] and "01937, 99152" in detail[pa:]
    assert card["indicator"] == "warning" and card["source"]["label"] == "Medicare"
    assert card["source"]["topic"]["code"] == "coverage-info"      # the worst line is the PA state
    assert 0 < len(card["summary"]) <= 139 and re.fullmatch(r"[0-9a-f-]{36}", card["uuid"])   # CC-34
    assert card["extension"]["davinci-crd.associated-resource"] == ["ServiceRequest/sr-1"]


def test_the_card_links_to_the_worklist_or_to_the_one_fix(policies):
    _, _, resp = _render(policies)
    link, = resp["cards"][0]["links"]                               # CC-39: one kind of link per card
    assert (link["type"], link["label"], json.loads(link["appContext"])["ctx"]) == \
        ("smart", "Fix 2 items in painpa", "ServiceRequest/sr-1#order")
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("CA", "11")))
    p.resources = [r for r in p.resources if r.get("code", {}).get("coding", [{}])[0].get("code") != "97110"]
    _, _, resp = _render(policies, orders_patient=([b.order("64483")], p))
    link, = resp["cards"][0]["links"]
    # the title is 103 characters: the label takes its first whole phrase, never a cut one
    assert link["label"] == "Fix in painpa: ESI given with ongoing conservative care"
    assert not json.loads(link["appContext"])["ctx"].endswith("#order")


def test_an_order_with_nothing_missing_gets_a_ready_card_linking_to_its_policy(policies):
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("CA", "11")))
    _, _, resp = _render(policies, orders_patient=([b.order("64483")], p))
    card, = resp["cards"]
    assert card["indicator"] == "info" and card["source"]["topic"]["code"] == "guideline"
    # an LCD-only order: "nothing needed" said apart from "not evaluated", with the criteria named
    assert "No prior authorization needed — claim reviewed against" in card["summary"]
    assert [lk["type"] for lk in card["links"]] == ["absolute"] and card["links"][0]["url"] == card["source"]["url"]
    assert "Sources:" not in card["detail"]


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
    card, = resp["cards"]
    assert "conservative" not in card["detail"] and "Baseline pain" in card["detail"]
    _, _, resp = _render(policies, config={"coverage-info": False, "therapy-alternatives-req": False})
    card, = resp["cards"]
    assert "Prior authorization" not in card["detail"] and card["source"]["topic"]["code"] == "appropriate-use"
    assert "systemActions" not in resp
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("CA", "11")))
    two = ([b.order("64483"), b.order("64479", sid="sr-2")], p)
    _, _, resp = _render(policies, orders_patient=two, config={"guideline": False})
    assert resp["cards"] == []                                      # ready cards are guideline cards
    _, _, resp = _render(policies, orders_patient=two)
    assert len(resp["cards"]) == 2
    _, _, resp = _render(policies, orders_patient=two, config={"max-cards": 1})
    assert len(resp["cards"]) == 1


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
    assert resp["cards"][0]["summary"].endswith(": No active coverage on file — payer rules unknown")


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


def test_each_order_has_its_card_naming_it_in_words(policies):
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("TX", "11")))
    second = b.order("64479", sid="sr-2") | {"bodySite": [{"text": "C6-C7 Right"}],
                                             "code": {"text": "Cervical TFESI", "coding": [{"system": b.CPT, "code": "64479"}]}}
    _, _, resp = _render(policies, orders_patient=([b.order("64483"), second], p))
    assert [c["extension"]["davinci-crd.associated-resource"] for c in resp["cards"]] == [["ServiceRequest/sr-1"], ["ServiceRequest/sr-2"]]
    assert resp["cards"][1]["summary"] == "Cervical TFESI, C6-C7 Right, Dec 10, 2026: WISeR prior authorization required — no UTN on file"
    assert all("ServiceRequest/" not in c["detail"] for c in resp["cards"])
