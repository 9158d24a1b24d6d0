"""The forms and the policy never drift apart, and the DTR view of each form is a DTR Questionnaire a
DTR client can pre-populate (DTR 2.2.0 dtr-std-questionnaire; specification.html#pre-population).

Drift, both ways: every requirement that names a form is fixed by a check the form declares
(``fixes-checks``) and every check a form declares is the check of a requirement naming it; a
section option that says which requirement it fixes (``fixes-requirement``) names a requirement
whose form it is; every x-fhir-query ``codes_from`` names a policy ValueSet the policy uses.

Pre-population runs for real: the x-fhir-query variables against the fixture FHIR server (its own
process), the initialExpressions with fhirpathpy."""

from __future__ import annotations

import json

import pytest
import requests
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from cds_service.dtr import forms
from smart_app.dtr_populate import (
    PopulationError,
    initial_values,
    mark_origins,
    populate,
    questionnaire_response,
)
from tests.dtr.profiles import check_questionnaire, walk

FIXES_CHECKS = "http://painpa.org/fhir/StructureDefinition/fixes-checks"
FIXES_REQ = "http://painpa.org/fhir/StructureDefinition/fixes-requirement"


def requirements(policies) -> list[tuple[str, dict]]:
    """(family, requirement) for every family requirement and every pack addition."""
    out = []
    for versions in policies.docs.values():
        for doc in versions:
            if doc.type == "family":
                out += [(doc.id, r) for r in doc.data["requirements"]]
            elif doc.type == "pack":
                out += [(fam, r) for fam, spec in doc.data["families"].items() for r in spec.get("add", ())]
    return out


def declared_checks(form: dict) -> set[str]:
    return {c for e in form.get("extension") or () if e["url"] == FIXES_CHECKS for c in e["valueString"].split()}


def test_every_requirement_form_declares_its_check(policies):
    stored = forms.stored_forms()
    for family, req in requirements(policies):
        if req.get("form"):
            assert req["form"] in stored, (family, req["id"])
            assert req["check"] in declared_checks(stored[req["form"]]), (
                f"{req['id']} ({req['check']}) names form {req['form']}, which does not say it fixes that check")


def test_every_check_a_form_declares_belongs_to_a_requirement_naming_it(policies):
    used: dict[str, set[str]] = {}
    for _, req in requirements(policies):
        if req.get("form"):
            used.setdefault(req["form"], set()).add(req["check"])
        if req["check"] == "attestation" or "attestation_code" in req.get("params", {}):
            used.setdefault("attestation", set()).add(req["check"])   # an attested fact also meets it
    for qid, form in forms.stored_forms().items():
        # ``prior_auth`` is not a requirement but the pa-needed state (cds_service/policy/priorauth.py)
        stray = declared_checks(form) - used.get(qid, set()) - {"prior_auth"}
        assert not stray, f"form {qid} claims checks no requirement sends to it: {sorted(stray)}"


def test_section_options_name_requirements_of_their_form(policies):
    by_id = {req["id"]: req for _, req in requirements(policies)}
    for qid, form in forms.stored_forms().items():
        for item in walk(form.get("item")):
            for opt in item.get("answerOption") or ():
                for ext in opt.get("extension") or ():
                    if ext["url"] == FIXES_REQ:
                        assert by_id[ext["valueString"]].get("form") == qid, (qid, ext["valueString"])
        # and each requirement sent to a sectioned form has its section
    for _, req in requirements(policies):
        form = forms.stored_forms().get(req.get("form") or "")
        sections = [o for i in walk((form or {}).get("item")) for o in i.get("answerOption") or ()
                    if any(e["url"] == FIXES_REQ for e in o.get("extension") or ())]
        if sections:
            assert any(e["valueString"] == req["id"] for o in sections for e in o["extension"]), req["id"]


def test_population_reads_what_the_policy_counts(policies):
    for qid, rules in forms.population().items():
        assert qid in forms.stored_forms(), qid
        linkids = {i["linkId"] for i in walk(forms.stored_forms()[qid]["item"])}
        assert set(rules.get("initial", {})) | set(rules.get("candidates", {})) <= linkids, qid
        for spec in rules.get("variables", {}).values():
            for vs_id in spec.get("codes_from", ()):
                assert vs_id in policies.valuesets, (qid, vs_id)


def test_every_documentation_form_is_served(policies):
    named = {req["form"] for _, req in requirements(policies) if req.get("form") and req["kind"] != "audit"}
    assert named | {"cpm-careplan", "cpm-time"} <= set(forms.catalogue())
    assert "prior-auth-decision" not in forms.catalogue()


@pytest.mark.parametrize("qid", sorted(forms.catalogue()))
def test_dtr_view_is_a_dtr_questionnaire(qid):
    q = forms.catalogue()[qid]
    check_questionnaire(q)
    text = json.dumps(q)
    for painpa_only in ("%record", "%sections", "%summary", "%orderCodes", "%attestationCode", "templateExtract",
                        "painpa.org/fhir/StructureDefinition"):
        assert painpa_only not in text, (qid, painpa_only)
    launch = {e["extension"][0]["valueCoding"]["code"] for e in q["extension"] if e["url"].endswith("launchContext")}
    assert launch == {"patient", "user", "encounter"}
    stored = forms.stored_forms()[qid]
    assert [i["linkId"] for i in walk(q["item"])] == [i["linkId"] for i in walk(stored["item"])], "same questions"


def _fetch(fhir):
    def fetch(query: str) -> dict:
        resp = requests.get(f"{fhir.base}/{query}", timeout=5)
        resp.raise_for_status()
        return resp.json()
    return fetch


def test_prepopulation_from_the_ehr(fhir):
    patient = requests.get(f"{fhir.base}/Patient/pt-esi-1", timeout=5).json()
    launch = {"patient": patient}
    dx = populate(forms.catalogue()["diagnosis"], launch, _fetch(fhir))
    assert [(a["valueCoding"]["system"], a["valueCoding"]["code"]) for a in dx["code"]] == [
        ("http://hl7.org/fhir/sid/icd-10-cm", "M54.16")]
    assert dx["onset"] == [{"valueDate": "2026-05-02"}]
    ct = populate(forms.catalogue()["conservative-therapy"], launch, _fetch(fhir))
    assert ct["kind"][0]["valueCoding"]["code"] == "therapy"          # enables the therapy group…
    assert ct["therapy-code"][0]["valueCoding"]["code"] == "97110"     # …whose items then fill (spec-66)
    assert ct["start"] == [{"valueDate": "2026-07-01"}]
    queries = [e["query"] for e in fhir.log()]
    assert any("code=" in q and "97110" in q for q in queries), "codes_from became the code parameter"
    scs = populate(forms.catalogue()["scs-readiness"], launch, _fetch(fhir))
    assert scs == {}                                                   # no psych evaluation in this chart


def test_origins_and_the_response(fhir):
    q = forms.catalogue()["diagnosis"]
    patient = requests.get(f"{fhir.base}/Patient/pt-esi-1", timeout=5).json()
    auto = populate(q, {"patient": patient}, _fetch(fhir))
    submitted = {**auto, "onset": [{"valueDate": "2026-04-01"}], "note": [{"valueString": "worse on standing"}]}
    origins = mark_origins(q, submitted, auto, author="Practitioner/dr-pain-1")
    source = {k: v["extension"][0]["valueCode"] for k, v in origins.items()}
    assert source == {"code": "auto", "onset": "override", "note": "manual"}
    assert origins["onset"]["extension"][1]["extension"][0]["valueReference"]["reference"] == "Practitioner/dr-pain-1"
    assert mark_origins(q, submitted, auto, author=None, dtr_version="2.2")["code"]["extension"][0]["valueCode"] == "auto-client"
    qr = questionnaire_response(q, submitted, origins, status="completed", patient="Patient/pt-esi-1",
                                coverage="Coverage/cov-mcr-1", orders=["ServiceRequest/sr-1"],
                                author="Practitioner/dr-pain-1", authored="2026-12-07T10:00:00Z")
    QuestionnaireResponse.model_validate(qr)
    answers = [a for i in walk(qr["item"]) for a in i.get("answer", ())]
    assert len(answers) == 3 and all(a["extension"][0]["url"].endswith("information-origin") for a in answers)


def test_a_form_that_never_settles_is_refused():
    loop = {"resourceType": "Questionnaire", "url": "x", "version": "1", "item": [
        {"linkId": "a", "type": "boolean", "enableWhen": [{"question": "b", "operator": "exists", "answerBoolean": False}],
         "extension": [{"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression",
                        "valueExpression": {"language": "text/fhirpath", "expression": "true"}}]},
        {"linkId": "b", "type": "boolean", "enableWhen": [{"question": "a", "operator": "exists", "answerBoolean": True}],
         "extension": [{"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression",
                        "valueExpression": {"language": "text/fhirpath", "expression": "true"}}]}]}
    with pytest.raises(PopulationError, match="does not settle"):
        initial_values(loop, {})
