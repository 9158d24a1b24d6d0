"""``$questionnaire-package`` round trips (DTR 2.2.0 OperationDefinition-questionnaire-package,
specification.html "Retrieving Questionnaire Packages") for each family under each program (WISeR,
OPD PA, LCD only, an MA plan pack), the refusals (unknown coverage, orders without rules, broken
input: an OperationOutcome, never a 500), canonical resolution, and the same forms on a CRD
``doc-needed`` answer (coverage-information ``questionnaire``, standards.md §2.3) as in the package."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from sqlalchemy import select

from cds_service import state
from cds_service.fhir.queries import QUERIES
from cds_service.store.tables import AuditEvent
from tests.dtr.profiles import check_input, check_output, check_questionnaire
from tests.policy.scenarios import PROGRAMS
from tests.support import fhir_builders as b
from tests.support import jwt as tjwt
from tests.support.hook_requests import ISS, SIGN, hook_body

PACKAGE = "/dtr/Questionnaire/$questionnaire-package"
CI = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
CODES = {("esi", None): ("62323",), ("scs", "opd-pa"): ("63650",), ("scs", None): ("63655",), ("pva", None): ("22513",)}
# What each family's documentation is about (domain.md §2.1-§2.4): the form that documents it must be
# in every package for an undocumented chart, whatever the program.
CORE = {"esi": {"conservative-therapy", "pain-function-scores", "imaging"},
        "scs": {"scs-readiness", "conservative-therapy"},
        "pva": {"imaging", "pva-readiness", "pain-function-scores"}}
COMBOS = [("esi", "wiser"), ("esi", "lcd"), ("esi", "pack-ma"), ("scs", "wiser"), ("scs", "opd-pa"),
          ("scs", "lcd"), ("scs", "pack-ma"), ("pva", "wiser"), ("pva", "lcd"), ("pva", "pack-ma")]


def codes(family: str, program: str) -> tuple[str, ...]:
    return CODES.get((family, program)) or CODES[(family, None)]


def package_input(coverage: dict, orders: list[dict] = (), *, others: list[dict] = (), questionnaires=(), context=None) -> dict:
    params = [{"name": "coverage", "resource": coverage}]
    params += [{"name": "order", "resource": o} for o in orders]
    params += [{"name": "questionnaire", "valueCanonical": q} for q in questionnaires]
    if context:
        params.append({"name": "context", "valueString": context})
    params += [{"name": "referenced", "resource": r} for r in others]
    return {"resourceType": "Parameters", "parameter": params}


def post(app, es_key, body, *, token: str | None = None):
    jwt_ = token or tjwt.sign(es_key, ISS, state.of(app).settings.base_url + PACKAGE)
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return app.test_client().post(PACKAGE, data=data, headers={**tjwt.bearer(jwt_), "Content-Type": "application/fhir+json"})


def scenario(family: str, program: str) -> tuple[dict, dict, dict]:
    cov, loc, _ = PROGRAMS[program]
    b.reset_ids()
    return cov(), loc(), b.order(*codes(family, program))


def form_ids(bundles: list[dict]) -> list[str]:
    return [bn["entry"][0]["resource"]["id"] for bn in bundles]


def family_forms(policies, family: str) -> set[str]:
    doc = policies.docs[family][0]
    named = {r["form"] for r in doc.data["requirements"] if r.get("form") and r["kind"] != "audit"}
    for versions in policies.docs.values():
        if versions[0].type == "pack" and family in versions[0].data["families"]:
            named |= {r["form"] for r in versions[0].data["families"][family].get("add", ()) if r.get("form")}
    return named


@pytest.mark.parametrize(("family", "program"), COMBOS, ids=[f"{f}-{p}" for f, p in COMBOS])
def test_package_round_trip_per_family_and_program(app, es_key, policies, family, program):
    coverage, location, order = scenario(family, program)
    body = package_input(coverage, [order], others=[location])
    check_input(body)
    resp = post(app, es_key, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    bundles = check_output(resp.get_json())
    got = form_ids(bundles)
    assert CORE[family] <= set(got) <= family_forms(policies, family), got
    assert len(got) == len(set(got)), "one bundle per form"
    for bundle in bundles:
        qr = bundle["entry"][-1]["resource"]
        assert qr["subject"] == {"reference": "Patient/pt-1"}
        contexts = [e["valueReference"]["reference"] for e in qr["extension"] if e["url"].endswith("qr-context")]
        assert contexts == ["ServiceRequest/sr-1"]
        use = next(e for e in qr["extension"] if e["url"].endswith("intendedUse"))["valueCodeableConcept"]["coding"][0]["code"]
        assert use == ("retain-doc" if program == "lcd" else "withpa")   # LCD only: no PA, documentation kept


def test_the_crd_answer_names_the_forms_the_package_returns_and_they_resolve(app, es_key):
    coverage, location, order = scenario("esi", "wiser")
    prefetch = {q.key: {"resourceType": "Bundle", "type": "searchset", "entry": []} for q in QUERIES}
    prefetch.update(patient={"resourceType": "Patient", "id": "pt-1", "address": [{"state": "TX"}]},
                    user=None, locations={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": location}]},
                    coverage={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": coverage}]})
    hook = hook_body("order-sign", orders=[order], prefetch=prefetch)
    hook["context"]["patientId"] = "pt-1"
    base = state.of(app).settings.base_url
    http = app.test_client()
    resp = http.post(f"/cds-services/{SIGN}", data=json.dumps(hook), headers={
        **tjwt.bearer(tjwt.sign(es_key, ISS, f"{base}/cds-services/{SIGN}")), "Content-Type": "application/json"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    ext = next(e for e in resp.get_json()["systemActions"][0]["resource"]["extension"] if e["url"] == CI)
    subs = {s["url"]: s for s in ext["extension"]}
    assert subs["doc-needed"]["valueCode"] == "clinical"
    canonicals = [s["valueCanonical"] for s in ext["extension"] if s["url"] == "questionnaire"]
    assert canonicals
    for canonical in canonicals:                       # each resolves at the DTR base
        found = http.get("/dtr/Questionnaire", query_string={"url": canonical}).get_json()
        assert found["total"] == 1
        check_questionnaire(found["entry"][0]["resource"])
    # The same order through DTR, with the CRD assertion as context (DTR spec-107): the same forms.
    context = subs["coverage-assertion-id"]["valueString"]
    bundles = check_output(post(app, es_key, package_input(coverage, [order], others=[location], context=context)).get_json())
    assert [bn["entry"][0]["resource"]["url"] for bn in bundles] == canonicals


def test_canonicals_limit_the_package(app, es_key):
    coverage, location, order = scenario("scs", "wiser")
    wanted = "http://painpa.org/fhir/Questionnaire/scs-readiness"
    bundles = check_output(post(app, es_key, package_input(coverage, [order], others=[location],
                                                           questionnaires=[wanted])).get_json())
    assert form_ids(bundles) == ["scs-readiness"]
    # Chronic pain management forms are asked by name (no order): the package still comes back.
    bundles = check_output(post(app, es_key, package_input(coverage, questionnaires=[
        "http://painpa.org/fhir/Questionnaire/cpm-careplan", "http://painpa.org/fhir/Questionnaire/cpm-time"])).get_json())
    assert form_ids(bundles) == ["cpm-careplan", "cpm-time"]


def _refusal(resp, status: int, words: str, expression: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    oo = resp.get_json()
    assert oo["resourceType"] == "OperationOutcome"
    assert words in oo["issue"][0]["diagnostics"]
    if expression:
        assert expression in oo["issue"][0]["expression"][0]
    return oo


def test_unknown_coverage_is_a_clear_refusal(app, es_key):
    _, location, order = scenario("esi", "wiser")
    unknown = b.coverage("5", "ACME-123", name="Acme Health")
    _refusal(post(app, es_key, package_input(unknown, [order], others=[location])), 422,
             "Coverage not recognised: Coverage rules for Acme Health are not configured", "coverage")


def test_orders_without_rules_are_refused_and_named(app, es_key):
    coverage, location, _ = scenario("esi", "wiser")
    pt = {"resourceType": "ServiceRequest", "id": "sr-pt", "status": "draft", "intent": "order",
          "subject": {"reference": "Patient/pt-1"},
          "code": {"coding": [{"system": b.CPT, "code": "97110"}]}}
    nutrition = {"resourceType": "NutritionOrder", "id": "no-1", "status": "draft", "intent": "order",
                 "patient": {"reference": "Patient/pt-1"}, "dateTime": "2026-12-01"}
    oo = _refusal(post(app, es_key, package_input(coverage, [pt, nutrition], others=[location])), 422,
                  "No documentation rules for these orders")
    assert "ServiceRequest/sr-pt" in oo["issue"][0]["diagnostics"] and "NutritionOrder/no-1" in oo["issue"][0]["diagnostics"]
    # Beside an order painpa knows, the other is left out and said so in ``outcome``.
    _, _, esi = scenario("esi", "wiser")
    out = post(app, es_key, package_input(coverage, [esi, pt], others=[location])).get_json()
    check_output(out)
    outcome = next(p["resource"] for p in out["parameter"] if p["name"] == "outcome")
    assert "ServiceRequest/sr-pt" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("body", "status", "words"), [
    ("not json", 400, "not JSON"),
    ({"resourceType": "Bundle"}, 400, "Parameters"),
    ({"resourceType": "Parameters", "parameter": [{"name": "order", "resource": {"resourceType": "ServiceRequest"}}]},
     400, "'coverage'"),
    ({"resourceType": "Parameters", "parameter": [{"name": "coverage", "resource": b.coverage("121")}]}, 400, "dtr-1"),
    ({"resourceType": "Parameters", "parameter": [{"name": "coverage", "resource": {"resourceType": "Patient"}},
                                                  {"name": "context", "valueString": "x"}]}, 400, "must be a Coverage"),
    ({"resourceType": "Parameters", "parameter": [{"name": "coverage", "resource": b.coverage("121")},
                                                  {"name": "order", "resource": {"resourceType": "Observation"}}]},
     400, "cannot be a Observation"),
    ({"resourceType": "Parameters", "parameter": [{"name": "coverage", "resource": b.coverage("121")},
                                                  {"name": "questionnaire", "valueCanonical": "http://x.org/Q/none"}]},
     422, "no Questionnaire http://x.org/Q/none"),
    ({"resourceType": "Parameters", "parameter": [{"name": "coverage", "resource": b.coverage("121")},
                                                  {"name": "context", "valueString": "painpa-abc"}]}, 422, "context alone"),
])
def test_bad_input_gets_an_operation_outcome(app, es_key, body, status, words):
    _refusal(post(app, es_key, body), status, words)


def test_the_operation_needs_a_registered_clients_jwt(app, es_key):
    coverage, location, order = scenario("esi", "wiser")
    resp = post(app, es_key, package_input(coverage, [order]), token=tjwt.sign(es_key, ISS, "http://elsewhere/x"))
    assert resp.status_code == 401
    assert "pt-1" not in resp.get_data(as_text=True)


def test_metadata_and_reads(client):
    cs = client.get("/dtr/metadata").get_json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    assert cs["instantiates"] == ["http://hl7.org/fhir/us/davinci-dtr/CapabilityStatement/dtr-payer-service"]
    ops = [o["name"] for r in cs["rest"][0]["resource"] for o in r.get("operation", ())]
    assert ops == ["questionnaire-package"]
    CapabilityStatement.model_validate(cs)
    q = client.get("/dtr/Questionnaire/imaging")
    assert q.status_code == 200 and q.mimetype == "application/fhir+json"
    check_questionnaire(q.get_json())
    vs_url = next(i["answerValueSet"] for i in q.get_json()["item"][2]["item"] if i.get("answerValueSet"))
    found = client.get("/dtr/ValueSet", query_string={"url": vs_url}).get_json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["compose"]
    missing = client.get("/dtr/Questionnaire/nope")
    assert missing.status_code == 404 and missing.get_json()["resourceType"] == "OperationOutcome"
    assert client.get("/dtr/Questionnaire", query_string={"url": "http://x/none"}).get_json()["total"] == 0
    listing = client.get("/dtr/Questionnaire").get_json()
    assert {e["resource"]["id"] for e in listing["entry"]} >= {"conservative-therapy", "pain-function-scores", "imaging",
                                                                 "scs-readiness", "pva-readiness", "cpm-careplan", "cpm-time"}


def test_each_call_is_audited_without_the_patient_id(app, es_key):
    coverage, location, order = scenario("esi", "wiser")
    post(app, es_key, package_input(coverage, [order], others=[location]))
    post(app, es_key, package_input(b.coverage("5", "ACME-123"), [order], others=[location]))
    with state.of(app).db.session() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.service_id == "dtr-questionnaire-package")
                              .order_by(AuditEvent.id)))
    assert [(r.status, r.order_codes, r.iss) for r in rows] == [(200, [f"{b.CPT}|62323"], ISS), (422, [f"{b.CPT}|62323"], ISS)]
    assert rows[0].patient_hash and "pt-1" not in json.dumps([r.patient_hash for r in rows])


def test_changedsince_leaves_out_forms_not_changed_since(app, es_key):
    coverage, location, order = scenario("esi", "wiser")
    body = package_input(coverage, [order], others=[location])
    body["parameter"].append({"name": "changedsince", "valueInstant": "2099-01-01T00:00:00Z"})
    out = post(app, es_key, body).get_json()
    assert [p["name"] for p in out["parameter"]] == ["outcome"]
    assert "none changed since" in out["parameter"][0]["resource"]["issue"][0]["diagnostics"]
    body["parameter"][-1]["valueInstant"] = "2000-01-01T00:00:00Z"
    assert len(check_output(post(app, es_key, body).get_json())) == 4
