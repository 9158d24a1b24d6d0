"""Every order gets an answer on order-sign (CRD hooks.md hook-16: a coverage-information system
action for every order of a primary hook; CC-42), and on order-select for its selections: orders
painpa has no rules for — a NutritionOrder, a MedicationRequest, a DeviceRequest, a
physical-therapy ServiceRequest — get the answered version's "no determination" with its reason,
never silence and never a claim of coverage, next to an ESI order that painpa does judge."""

from __future__ import annotations

import json
import uuid

import pytest

from cds_service.config import Settings
from cds_service.hooks.request import parse_request
from cds_service.hooks.service import HookCall
from cds_service.render.versions import answered, vocabulary
from cds_service.services import REGISTRY
from tests.crd.version_walk import problems
from tests.policy.scenarios import Scenario
from tests.support import fhir_builders as b
from tests.support.response_checks import coverage_infos

SUBJECT = {"reference": "Patient/pt-1"}
OTHERS = [
    {"resourceType": "NutritionOrder", "id": "diet-1", "status": "draft", "intent": "order", "patient": SUBJECT,
     "dateTime": "2026-11-29", "oralDiet": {"type": [{"text": "Pureed diet"}]}},
    {"resourceType": "MedicationRequest", "id": "med-1", "status": "draft", "intent": "order", "subject": SUBJECT,
     "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                               "code": "5640", "display": "ibuprofen"}]}},
    {"resourceType": "DeviceRequest", "id": "dev-1", "status": "draft", "intent": "order", "subject": SUBJECT,
     "codeCodeableConcept": {"coding": [{"system": "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
                                         "code": "E0114", "display": "Crutches"}]}},
    {"resourceType": "ServiceRequest", "id": "pt-1", "status": "draft", "intent": "order", "subject": SUBJECT,
     "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97110",
                          "display": "Therapeutic exercise"}]}, "occurrenceDateTime": "2026-12-10",
     "insurance": [{"reference": "Coverage/cov-1"}]},
]
OTHER_REFS = {f"{o['resourceType']}/{o['id']}" for o in OTHERS}


def _bundle(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _answer(policies, version: str, hook: str) -> tuple[dict, list[dict]]:
    orders, patient = Scenario("esi", "wiser", "met", "satisfied").build()
    drafts = [*orders, *OTHERS]
    by_type: dict[str, list[dict]] = {}
    for r in patient.resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/dr-1", "patientId": "pt-1",
                        "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                        "entry": [{"resource": o} for o in drafts]}},
            "prefetch": {"patient": by_type["Patient"][0], "locations": _bundle(by_type["Location"]),
                         "coverage": _bundle(by_type["Coverage"]),
                         "priorAuthResponses": _bundle(by_type["ClaimResponse"]),
                         "priorAuthClaims": _bundle(by_type["Claim"])}}
    if version != "2.0.1":
        body["extension"] = {"davinci-crd.requestedVersion": version}
    if hook == "order-select":
        body["context"]["selections"] = [f"{o['resourceType']}/{o['id']}" for o in drafts]
    service = REGISTRY.for_hook(hook)
    req = parse_request(json.loads(json.dumps(body)), service.hook)
    call = HookCall(service=service, request=req, settings=Settings.from_env(env={}), db=None, policies=policies,
                    today=b.TODAY)
    return service.handler(call).response, drafts


@pytest.mark.parametrize("hook", ["order-sign", "order-select"])
@pytest.mark.parametrize("version", answered())
def test_orders_without_rules_get_the_versions_no_determination(policies, version, hook):
    response, drafts = _answer(policies, version, hook)
    assert problems(response, version) == []
    answers = {}
    for action, ext in coverage_infos(response):
        answers[f"{action['resource']['resourceType']}/{action['resource']['id']}"] = {
            s["url"]: next(v for k, v in s.items() if k.startswith("value")) for s in ext["extension"]}
    assert set(answers) == {f"{o['resourceType']}/{o['id']}" for o in drafts}      # none left silent
    nd = vocabulary(version).no_determination
    for ref in OTHER_REFS:
        got = answers[ref]
        assert got["covered"] == nd["covered"] and got["pa-needed"] == nd["pa-needed"], ref
        assert got.get("info-needed") == nd.get("info-needed"), ref
        assert got["reason"]["text"] == "not an interventional pain order; painpa makes no determination"
        assert got["coverage"] == {"reference": "Coverage/cov-1"}
    assert answers["ServiceRequest/sr-1"]["pa-needed"] == "satisfied"     # the ESI order is judged as ever
    assert [c for c in response["cards"]
            if c["extension"]["davinci-crd.associated-resource"][0] in OTHER_REFS] == []   # no card speaks for them
