"""Writes fhir_profiles/questionnaires/cpm-time.json and cpm-careplan.json (G3002/G3003, domain.md
§4) in the SMART app's SDC template-extraction format (smart_app/extract.py). Run on purpose:
``python -m tests.chronic_pain.make_cpm_questionnaires``; the JSON files are the reviewed artifacts."""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "fhir_profiles" / "questionnaires"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
VALUE = SDC + "sdc-questionnaire-templateExtractValue"
CONTEXT = SDC + "sdc-questionnaire-templateExtractContext"
CPM = "http://painpa.org/fhir/CodeSystem/painpa-cpm"
FIXES = "http://painpa.org/fhir/StructureDefinition/fixes-requirement"
TODAY = {"url": SDC + "sdc-questionnaire-initialExpression",
         "valueExpression": {"language": "text/fhirpath", "expression": "%today"}}


def val(expr: str) -> dict:
    return {"extension": [{"url": VALUE, "valueString": expr}]}


def ans(link: str) -> str:
    return f"%resource.repeat(item).where(linkId='{link}').answer.value"


def extract(*templates: str) -> dict:
    return {"url": SDC + "sdc-questionnaire-templateExtract",
            "extension": [{"url": "template", "valueReference": {"reference": f"#{t}"}} for t in templates]}


def each(link: str) -> list[dict]:
    return [{"url": CONTEXT, "valueString": ans(link)}]


BASE = {"meta": {"profile": [SDC + "sdc-questionnaire-extr-template"]}, "version": "2026-11-29", "status": "active",
        "subjectType": ["Patient"], "date": "2026-11-29", "publisher": "painpa"}

TIME = {
    "resourceType": "Questionnaire", "id": "cpm-time", **BASE,
    "extension": [extract("minutes"), {"url": FIXES, "valueString": "cpm.time"}],
    "url": "http://painpa.org/fhir/Questionnaire/cpm-time", "name": "CpmTime", "title": "Chronic pain management time",
    "description": "Record minutes of chronic pain management personally provided by the physician or qualified "
                   "health professional on one date. G3002 needs 30 minutes in the calendar month; each further full "
                   "15 minutes is one G3003 (domain.md §4). Extracts an Observation coded painpa-cpm#cpm-minutes with "
                   "the minutes in UCUM 'min' and the clinician as performer.",
    "contained": [{
        "resourceType": "Observation", "id": "minutes", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "procedure", "display": "Procedure"}]}],
        "code": {"coding": [{"system": CPM, "code": "cpm-minutes", "display": "Chronic pain management time (minutes)"}]},
        "subject": val("%subject"), "encounter": val("%encounter"), "performer": [val("%author")],
        "_effectiveDateTime": val(ans("date")),
        "valueQuantity": {"_value": val(ans("minutes")), "unit": "min", "system": "http://unitsofmeasure.org",
                          "code": "min"},
        "note": [{"extension": each("activity"), "_text": val("%context")}],
    }],
    "item": [
        {"linkId": "date", "text": "Date of the work", "type": "date", "required": True, "extension": [TODAY]},
        {"linkId": "minutes", "text": "Minutes you personally spent (physician or qualified professional)",
         "type": "integer", "required": True,
         "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 1},
                       {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 600}]},
        {"linkId": "activity", "text": "What was done (assessment, medication management, care coordination, counselling)",
         "type": "string", "required": True, "maxLength": 1000},
    ],
}

PLAN = {
    "resourceType": "Questionnaire", "id": "cpm-careplan", **BASE,
    "extension": [extract("strengths", "goal", "careplan"), {"url": FIXES, "valueString": "cpm.care-plan"}],
    "url": "http://painpa.org/fhir/Questionnaire/cpm-careplan", "name": "CpmCarePlan",
    "title": "Chronic pain care plan",
    "description": "Record the person-centered care plan G3002 requires: the patient's strengths, goals, clinical "
                   "needs and desired outcomes (domain.md §4). Extracts a Goal (description = goal, target = desired "
                   "outcome), an Observation painpa-cpm#cpm-strengths, and a CarePlan (category "
                   "painpa-cpm#cpm-care-plan) pointing to both, with the clinical needs as activities.",
    "contained": [
        {"resourceType": "Observation", "id": "strengths", "status": "final",
         "code": {"coding": [{"system": CPM, "code": "cpm-strengths",
                              "display": "Patient strengths (person-centered care plan)"}]},
         "subject": val("%subject"), "performer": [val("%author")], "_effectiveDateTime": val(ans("start")),
         "_valueString": val(ans("strengths"))},
        {"resourceType": "Goal", "id": "goal", "lifecycleStatus": "active", "subject": val("%subject"),
         "description": {"_text": val(ans("goal"))}, "_startDate": val(ans("start")),
         "target": [{"_detailString": val(ans("outcome"))}], "expressedBy": val("%author")},
        {"resourceType": "CarePlan", "id": "careplan", "status": "active", "intent": "plan",
         "category": [{"coding": [{"system": CPM, "code": "cpm-care-plan",
                                   "display": "Person-centered chronic pain care plan"}]}],
         "title": "Chronic pain management care plan", "subject": val("%subject"), "author": val("%author"),
         "period": {"_start": val(ans("start"))}, "goal": [val("%ref_goal")], "supportingInfo": [val("%ref_strengths")],
         "activity": [{"extension": each("needs"), "detail": {"status": "in-progress", "_description": val("%context")}}]},
    ],
    "item": [
        {"linkId": "start", "text": "Plan date", "type": "date", "required": True, "extension": [TODAY]},
        {"linkId": "strengths", "text": "The patient's strengths (what helps them cope, supports, motivation)",
         "type": "text", "required": True, "maxLength": 2000},
        {"linkId": "goal", "text": "Goal in the patient's own words", "type": "string", "required": True,
         "maxLength": 500},
        {"linkId": "outcome", "text": "Desired outcome (measurable: e.g. walk 30 minutes with pain at or below 4/10)",
         "type": "string", "required": True, "maxLength": 500},
        {"linkId": "needs", "text": "Clinical needs (medication management, physical therapy, behavioral health, …)",
         "type": "text", "required": True, "maxLength": 2000},
    ],
}

if __name__ == "__main__":
    for q in (TIME, PLAN):
        (OUT / f"{q['id']}.json").write_text(json.dumps(q, indent=2, ensure_ascii=False) + "\n")
