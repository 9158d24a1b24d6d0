"""The Da Vinci PAS IG's own example request Bundles (tests/sandbox/fixtures/pas, from HL7/davinci-pas
``input/fsh/Examples.fsh``) submitted to and inquired of the sandbox payer as any PAS client would send
them: the patient is unknown to the payer and everything is resolved from the Bundle (PAS 2.2.1
§"Prior Authorization Submission"); the answer is a PAS response Bundle (``PASResponseBundle``:
identifier, timestamp, ClaimResponse first, its references inside); ``$inquire`` finds the decision
by the inquiry's patient, provider and trace number; bodies that are not PAS Bundles get a 4xx
OperationOutcome naming the problem. standards.md CC checks for PAS: §4.1, §4.2, §4.6."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

FIXTURES = Path(__file__).with_name("fixtures") / "pas"
REQUESTS = ["ReferralAuthorizationBundleExample", "ReferralAuthorizationBundleExample-2.1.0",
            "HomecareAuthorizationBundleExample", "MedicalServicesAuthorizationBundleExample"]
REVIEW = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewAction"
REVIEW_CODE = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode"
X12_306 = "https://codesystem.x12.org/005010/306"


def example(name: str) -> dict:
    return json.loads((FIXTURES / f"Bundle-{name}.json").read_text())


def review_actions(claim_response: dict) -> dict[int, dict]:
    """itemSequence -> {code, number} of the item's PAS reviewAction."""
    out = {}
    for item in claim_response["item"]:
        for adj in item["adjudication"]:
            for ext in adj.get("extension", []):
                if ext["url"] == REVIEW:
                    subs = {e["url"]: e for e in ext["extension"]}
                    coding = subs[REVIEW_CODE]["valueCodeableConcept"]["coding"][0]
                    assert coding["system"] == X12_306
                    out[item["itemSequence"]] = {"code": coding["code"], "number": subs.get("number", {}).get("valueString")}
    return out


def assert_pas_response(bundle: dict, request: dict) -> dict:
    """The PASResponseBundle's required elements, beyond R4 validity; returns the ClaimResponse."""
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    assert bundle["identifier"] == request["identifier"]            # 1..1, the submitter's transaction id
    assert bundle["timestamp"]                                      # 1..1
    assert all(e.get("fullUrl") and e.get("resource") for e in bundle["entry"])
    assert not any({"request", "response", "search"} & set(e) for e in bundle["entry"])
    cr = bundle["entry"][0]["resource"]                              # ClaimResponseFirst
    assert cr["resourceType"] == "ClaimResponse" and cr["use"] == "preauthorization"
    claim_entry = request["entry"][0]
    assert cr["request"]["reference"] == claim_entry["fullUrl"]    # request 1..1, the submitted Claim
    assert cr["identifier"][0] == claim_entry["resource"]["identifier"][0]  # the trace number echoed
    urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    for key, kind in (("patient", "Patient"), ("insurer", "Organization"), ("requestor", "Organization")):
        assert urls[cr[key]["reference"]]["resourceType"] == kind, key
    member = urls[cr["patient"]["reference"]]["identifier"][0]
    assert (member["system"], member["value"]) == ("http://example.org/MIN", "12345678901")
    sequences = [i["sequence"] for i in claim_entry["resource"]["item"]]
    actions = review_actions(cr)
    assert sorted(actions) == sequences                             # one reviewAction per requested item
    for act in actions.values():
        assert act["code"] in {"A1", "A3", "A4", "A6"}
        if act["code"] == "A1":
            assert act["number"] == cr["preAuthRef"]               # the UTN on the item and the response
    return cr


@pytest.mark.parametrize("name", REQUESTS)
def test_ig_example_is_submitted_and_inquired(pas_client, name):
    request = example(name)
    resp = pas_client.post("/payer/Claim/$submit", json=request)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    cr = assert_pas_response(resp.get_json(force=True), request)
    assert set(a["code"] for a in review_actions(cr).values()) == {"A1"} and cr["preAuthRef"]

    inquiry = copy.deepcopy(request)  # query by example: the same patient, provider and trace number
    inquiry["identifier"] = {"system": "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER", "value": "INQ-1"}
    found = pas_client.post("/payer/Claim/$inquire", json=inquiry)
    assert found.status_code == 200, found.get_data(as_text=True)
    body = found.get_json(force=True)
    bundles = [p["resource"] for p in body["parameter"]] if body["resourceType"] == "Parameters" else [body]
    assert cr["id"] in [b["entry"][0]["resource"]["id"] for b in bundles]


def test_the_referral_example_lists_its_requestor_practitioner_and_document(pas_client):
    """The ReferralAuthorizationBundle names its practitioner through the careTeam's PractitionerRole;
    the payer reads the attached DocumentReference as documentation, from the Bundle."""
    request = example("ReferralAuthorizationBundleExample")
    bundle = pas_client.post("/payer/Claim/$submit", json=request).get_json(force=True)
    assert_pas_response(bundle, request)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "ClaimResponse" and {"Patient", "Organization"} <= set(kinds)


def test_the_ig_inquiry_example_finds_the_medical_services_request(pas_client):
    submitted = pas_client.post("/payer/Claim/$submit", json=example("MedicalServicesAuthorizationBundleExample"))
    decision_id = submitted.get_json(force=True)["entry"][0]["resource"]["id"]
    found = pas_client.post("/payer/Claim/$inquire", json=example("PASClaimInquiryBundleExample"))
    assert found.status_code == 200, found.get_data(as_text=True)
    body = found.get_json(force=True)
    bundles = [p["resource"] for p in body["parameter"]] if body["resourceType"] == "Parameters" else [body]
    assert [b["entry"][0]["resource"]["id"] for b in bundles] == [decision_id]
    for b in bundles:
        Bundle.model_validate(b)


def test_an_inquiry_for_another_patient_finds_nothing(pas_client):
    pas_client.post("/payer/Claim/$submit", json=example("MedicalServicesAuthorizationBundleExample"))
    inquiry = example("PASClaimInquiryBundleExample")
    patient = next(e["resource"] for e in inquiry["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["identifier"][0]["value"] = "99999999999"
    next(e["resource"] for e in inquiry["entry"] if e["resource"]["resourceType"] == "Coverage")["subscriberId"] = "0"
    resp = pas_client.post("/payer/Claim/$inquire", json=inquiry)
    assert resp.status_code == 404 and resp.get_json(force=True)["resourceType"] == "OperationOutcome"


def test_a_parameters_wrapped_submit_is_read_as_the_operation_defines(pas_client):
    """Claim-submit has one input parameter, ``resource`` (a Bundle): sent in Parameters it is unwrapped."""
    request = example("HomecareAuthorizationBundleExample")
    resp = pas_client.post("/payer/Claim/$submit", json={"resourceType": "Parameters",
                                                     "parameter": [{"name": "resource", "resource": request}]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert_pas_response(resp.get_json(force=True), request)
    other = pas_client.post("/payer/Claim/$submit", json={"resourceType": "Parameters", "parameter": [
        {"name": "bundle", "resource": request}]})
    assert other.status_code == 400 and "bundle" in other.get_json(force=True)["issue"][0]["diagnostics"]


def _broken(mutate) -> dict:
    body = example("HomecareAuthorizationBundleExample")
    mutate(body)
    return body


@pytest.mark.parametrize("body,status,names", [
    ({"resourceType": "Patient", "id": "x"}, 400, "Patient"),
    ({"resourceType": "Claim", "use": "preauthorization"}, 400, "Claim"),
    ([1, 2], 400, "FHIR resource"),
    (_broken(lambda b: b.update(type="transaction")), 400, "Bundle.type"),
    (_broken(lambda b: b.pop("identifier")), 400, "Bundle.identifier"),
    (_broken(lambda b: b.pop("timestamp")), 400, "Bundle.timestamp"),
    (_broken(lambda b: b["entry"].reverse()), 400, "ClaimFirst"),
    (_broken(lambda b: b["entry"][1].pop("fullUrl")), 400, "Bundle.entry[1].fullUrl"),
    (_broken(lambda b: b["entry"][1].update(request={"method": "POST", "url": "Organization"})), 400, "entry[1].request"),
    (_broken(lambda b: b["entry"][0]["resource"].update(use="claim")), 400, "Claim.use"),
    (_broken(lambda b: b.update(timestamp="yesterday")), 422, "Bundle.timestamp"),
    (_broken(lambda b: b["entry"].pop(4)), 422, "Claim.patient"),   # the Patient entry missing
], ids=["patient", "bare-claim", "not-an-object", "transaction", "no-identifier", "no-timestamp", "claim-not-first",
        "no-fullurl", "entry-request", "use-claim", "bad-instant", "patient-not-in-bundle"])
def test_bodies_that_are_not_pas_bundles_are_refused_by_name(pas_client, body, status, names):
    resp = pas_client.post("/payer/Claim/$submit", json=body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    outcome = resp.get_json(force=True)
    assert outcome["resourceType"] == "OperationOutcome"
    text = " ".join(i.get("diagnostics", "") + " ".join(i.get("expression", [])) for i in outcome["issue"])
    assert names in text, text


def test_invalid_json_is_an_operation_outcome(pas_client):
    resp = pas_client.post("/payer/Claim/$submit", data="{not json", content_type="application/fhir+json")
    assert resp.status_code == 400 and resp.get_json(force=True)["resourceType"] == "OperationOutcome"


def test_metadata_is_a_capability_statement_naming_the_pas_operations_and_topic(client):
    """Public, as capabilities are (no token sent), and it says where the token comes from (SMART
    App Launch 2.2 §"Conformance": rest.security, the oauth-uris extension)."""
    resp = client.get("/payer/metadata")
    assert resp.status_code == 200
    cs = resp.get_json(force=True)
    CapabilityStatement.model_validate(cs)
    assert cs["fhirVersion"] == "4.0.1"
    by_type = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert {o["definition"] for o in by_type["Claim"]["operation"]} == {
        "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit",
        "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-inquiry"}
    assert by_type["Subscription"]["extension"][0]["valueCanonical"] == (
        "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic")
    security = cs["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    oauth = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert oauth["token"] == "http://127.0.0.1:8080/auth/token"
    conf = client.get("/payer/.well-known/smart-configuration").get_json()
    assert conf["token_endpoint"] == oauth["token"] and "client_credentials" in conf["grant_types_supported"]
    assert {"system/Claim.cr", "system/Bundle.r", "system/Subscription.crd"} <= set(conf["scopes_supported"])


def test_an_inquiry_matches_the_trace_number_by_system_and_value(pas_client):
    """The referral's trace number has the same value (111099) under another system: not the one asked for."""
    pas_client.post("/payer/Claim/$submit", json=example("ReferralAuthorizationBundleExample"))
    medical = pas_client.post("/payer/Claim/$submit", json=example("MedicalServicesAuthorizationBundleExample"))
    body = pas_client.post("/payer/Claim/$inquire", json=example("PASClaimInquiryBundleExample")).get_json(force=True)
    assert body["resourceType"] == "Bundle"
    assert body["entry"][0]["resource"]["id"] == medical.get_json(force=True)["entry"][0]["resource"]["id"]


def test_an_inquiry_by_utn_finds_the_decision(pas_client):
    decided = pas_client.post("/payer/Claim/$submit", json=example("HomecareAuthorizationBundleExample")).get_json(force=True)
    utn = decided["entry"][0]["resource"]["preAuthRef"]
    inquiry = example("PASClaimInquiryBundleExample")
    claim = inquiry["entry"][0]["resource"]
    claim["identifier"] = [{"system": "urn:painpa:sandbox:utn", "value": utn}]
    claim["item"] = [{"sequence": 1, "productOrService": {"coding": [{"system": "urn:x", "code": "other"}]}}]
    found = pas_client.post("/payer/Claim/$inquire", json=inquiry)
    assert found.status_code == 200 and found.get_json(force=True)["entry"][0]["resource"]["preAuthRef"] == utn


def test_the_pended_example_for_testers_is_pended(pas_client):
    """The file docs/sandbox-testing.md tells testers to send to see a pended decision."""
    request = json.loads((FIXTURES / "painpa-scs-implant-no-psych-eval.json").read_text())
    bundle = pas_client.post("/payer/Claim/$submit", json=request).get_json(force=True)
    cr = assert_pas_response(bundle, request)
    assert set(a["code"] for a in review_actions(cr).values()) == {"A4"} and "preAuthRef" not in cr
