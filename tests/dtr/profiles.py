"""The required parts of DTR 2.2.0's profiles, as checks over JSON (HL7/davinci-dtr@2.2.0
input/fsh/DTRParameters.fsh, DTRQuestionnairePackageBundle.fsh, DTRQuestionnaireBase.fsh,
DTRQuestionnaireStandard.fsh, DTRQuestionnaireResponse.fsh, DTRInvariants.fsh), and the R4 structure
by fhir.resources' R4B models (Parameters, Bundle, Questionnaire, QuestionnaireResponse and ValueSet
are the same in R4 and R4B for every element used here)."""

from __future__ import annotations

from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.questionnaire import Questionnaire

DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"


def walk(items):
    for item in items or ():
        yield item
        yield from walk(item.get("item"))


def check_input(params: dict) -> None:
    """dtr-qpackage-input-parameters: coverage 1..1 (a Coverage), dtr-1 (order, questionnaire or context)."""
    Parameters.model_validate(params)
    names = [p["name"] for p in params["parameter"]]
    assert names.count("coverage") == 1
    assert next(p for p in params["parameter"] if p["name"] == "coverage")["resource"]["resourceType"] == "Coverage"
    assert {"order", "questionnaire", "context"} & set(names), "dtr-1"


def check_questionnaire(q: dict) -> None:
    """dtr-std-questionnaire on dtr-base-questionnaire: profile claimed, subjectType = Patient, item
    1..*, dtrq-2 (choice items have options), dtrq-4 (reference items name their resource type)."""
    Questionnaire.model_validate(q)
    assert DTR + "dtr-std-questionnaire" in q["meta"]["profile"]
    assert q["subjectType"] == ["Patient"]
    assert q["item"]
    for item in walk(q["item"]):
        urls = {e["url"] for e in item.get("extension") or ()}
        if item["type"] in ("choice", "open-choice"):
            assert item.get("answerOption") or item.get("answerValueSet") or SDC + "sdc-questionnaire-answerExpression" in urls, item["linkId"]
        if item["type"] == "reference":
            assert "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource" in urls, item["linkId"]


def check_output(params: dict) -> list[dict]:
    """dtr-qpackage-output-parameters with DTR-QPackageBundle entries; returns the bundles."""
    Parameters.model_validate(params)
    assert params["parameter"], "parameter 1..*"
    assert {p["name"] for p in params["parameter"]} <= {"packagebundle", "outcome"}
    assert sum(p["name"] == "outcome" for p in params["parameter"]) <= 1
    bundles = [p["resource"] for p in params["parameter"] if p["name"] == "packagebundle"]
    for bundle in bundles:
        assert bundle["type"] == "collection"
        types = [e["resource"]["resourceType"] for e in bundle["entry"]]
        assert types[0] == "Questionnaire", "dtrb-1"
        assert types.count("Questionnaire") == 1 and types.count("QuestionnaireResponse") == 1
        assert set(types) <= {"Questionnaire", "QuestionnaireResponse", "ValueSet", "Library"}, "closed slicing"
        q = bundle["entry"][0]["resource"]
        check_questionnaire(q)
        qr = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse")
        assert qr["questionnaire"].split("|")[0] == q["url"], "spec-122"
        assert qr["subject"]["reference"].startswith("Patient/")
        urls = [e["url"] for e in qr["extension"]]
        assert DTR + "qr-coverage" in urls and DTR + "intendedUse" in urls
        assert "basedOn" not in qr and "partOf" not in qr
        named = {i["answerValueSet"].split("|")[0] for i in walk(q["item"])
                 if i.get("answerValueSet", "#").split("|")[0][:1] != "#" and i.get("answerValueSet")}
        shipped = {e["resource"]["url"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ValueSet"}
        assert named <= shipped, "every ValueSet a form names travels with it"
    return bundles
