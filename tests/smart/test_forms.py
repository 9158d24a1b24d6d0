"""Fix forms: FHIR R4 Questionnaires in fhir_profiles/questionnaires (SDC subset), their parsing with
clear messages, template extraction into standard FHIR, and the round trip through the same policy
engine the CDS service uses: each form closes the requirement it is offered for."""

from __future__ import annotations

import base64
import uuid
from datetime import date, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class
from werkzeug.datastructures import MultiDict

from cds_service.policy.engine import evaluate
from cds_service.policy.loader import load_policies
from cds_service.policy.record import PatientRecord, TenantDefaults
from smart_app import forms, questionnaires
from smart_app.context import LaunchContext
from smart_app.extract import extract
from smart_app.validate import invalid_resources
from smart_app.worklist import Worklist
from tests.smart.chart import esi_chart

TODAY = date.today()
POLICIES = load_policies()
LOINC = "http://loinc.org"


def _iso(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def _worklist(resources: list[dict]) -> Worklist:
    record = PatientRecord.from_resources(resources, defaults=TenantDefaults(state="TX", place_of_service="11"))
    orders = [r for r in resources if r["resourceType"] == "ServiceRequest"]
    dets = evaluate(orders, record, POLICIES, TODAY)
    return Worklist(patient=record.patient, orders=orders, determinations=dets, record=record)


def _env(resources: list[dict], requirement: str | None = None) -> dict:
    wl = _worklist(resources)
    ctx = LaunchContext(patient="pat-1", encounter="enc-1", fhir_user="Practitioner/dr-1")
    return forms.environment(wl, wl.determinations[0], ctx, POLICIES, "http://ehr.test/fhir", requirement)


def _save_locally(q: dict, answers: dict, env: dict, chart: list[dict]) -> list[dict]:
    """What a FHIR server does with the transaction: ids for urn:uuid fullUrls, references rewritten."""
    qr = forms.response(q, answers, env)
    out = extract(q, qr, env)
    ids = {url: f"{res['resourceType']}/{uuid.uuid4().hex[:12]}" for url, res, _ in out}

    def rewrite(node):
        if isinstance(node, dict):
            return {k: (ids.get(v, v) if k == "reference" else rewrite(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    saved = []
    for url, res, _ in out:
        res = rewrite(res)
        res["id"] = ids[url].split("/")[1]
        saved.append(res)
    return chart + saved


def _status(resources: list[dict], requirement: str) -> str:
    det = _worklist(resources).determinations[0]
    return next(r.status.value for r in det.requirements if r.id == requirement)


@pytest.mark.parametrize("qid", sorted(questionnaires.catalogue()))
def test_every_questionnaire_is_valid_fhir_r4_with_resolvable_templates(qid):
    q = questionnaires.get(qid)
    get_fhir_model_class("Questionnaire").model_validate(q)  # R4B keeps R4's Questionnaire shape
    contained = {c["id"] for c in q.get("contained", [])}
    targets = [sub["valueReference"]["reference"][1:] for node in [q, *questionnaires.walk(q["item"])]
               for e in node.get("extension", []) if e["url"].endswith("templateExtract")
               for sub in e["extension"] if sub["url"] == "template"]
    assert targets and set(targets) <= contained
    linkids = [i["linkId"] for i in questionnaires.walk(q["item"])]
    assert len(linkids) == len(set(linkids))


def test_every_requirement_the_engine_reports_has_a_form_or_is_not_fixable_by_documentation():
    wl = _worklist(esi_chart())
    for r in wl.determinations[0].requirements:
        if r.status.value != "met":
            assert questionnaires.form_for(r.id, r.form), r.id


def test_the_policy_data_alone_says_which_form_fixes_a_requirement():
    named = {r["id"]: r["form"] for versions in POLICIES.docs.values() for doc in versions
             for r in doc.data.get("requirements") or () if r.get("form")}
    assert {rid: named.get(rid) for rid in ("esi.diagnosis", "esi.pain-duration", "pva.diagnosis", "pva.acuity")} \
        == dict.fromkeys(("esi.diagnosis", "esi.pain-duration", "pva.diagnosis", "pva.acuity"), "diagnosis")
    assert {named.get(f"{fam}.cloned-notes") for fam in ("esi", "scs", "pva")} == {"medical-necessity"}
    fixes = "http://painpa.org/fhir/StructureDefinition/fixes-requirement"
    for qid in questionnaires.catalogue():           # no second, app-side copy of that mapping
        declared = {e["valueString"] for e in questionnaires.get(qid).get("extension") or () if e["url"] == fixes}
        assert not declared & set(named), (qid, declared & set(named))
    for rid, qid in named.items():
        assert questionnaires.form_for(rid, qid) == qid


def test_form_codes_are_the_codes_the_policy_recognises():
    vs = POLICIES.vs
    q = questionnaires.get("conservative-therapy")
    therapy = next(i for i in questionnaires.walk(q["item"]) if i["linkId"] == "therapy-code")
    pools = [vs(v) for v in ("conservative-pt", "conservative-exercise", "conservative-chiro", "conservative-cbt",
                             "conservative-cpm")]
    for opt in therapy["answerOption"]:
        c = opt["valueCoding"]
        assert any(p.contains(c["system"], c["code"]) for p in pools), c
    drugs = next(i for i in questionnaires.walk(q["item"]) if i["linkId"] == "drug")
    assert all(vs("conservative-medications").contains(o["valueCoding"]["system"], o["valueCoding"]["code"])
               for o in drugs["answerOption"])
    scales = next(i for i in questionnaires.get("pain-function-scores")["item"] if i["linkId"] == "scale")
    assert all(vs("pain-intensity-scales").contains(LOINC, o["valueCoding"]["code"])
               or vs("function-scales").contains(LOINC, o["valueCoding"]["code"]) for o in scales["answerOption"])


def test_parse_gives_specific_messages_and_drops_disabled_answers():
    q = questionnaires.get("conservative-therapy")
    form = MultiDict({"item.kind": f"{questionnaires.get('conservative-therapy')['item'][0]['answerOption'][0]['valueCoding']['system']}|therapy",
                      "item.therapy-code": "http://www.ama-assn.org/go/cpt|97110", "item.start": "2026-02-30",
                      "item.drug": "http://www.nlm.nih.gov/research/umls/rxnorm|5640"})
    answers, errors = forms.parse(q, form)
    assert errors["start"] == "Start date: enter a date as YYYY-MM-DD."
    assert errors["response"] == "Response: this answer is required."
    assert "drug" not in answers  # the medication group is not enabled for a therapy
    q2 = questionnaires.get("pain-function-scores")
    answers, errors = forms.parse(q2, MultiDict({"item.scale": f"{LOINC}|72514-3", "item.nrs": "14",
                                                 "item.date": _iso(1), "item.timing": "x"}))
    assert errors["nrs"] == "Score (0-10): enter a value between 0 and 10."
    assert errors["timing"].endswith("choose one of the listed options.")



@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_a_decimal_answer_must_be_a_finite_number(raw):
    """float() accepts these; FHIR decimals cannot hold them (and JSON has no NaN)."""
    q = questionnaires.get("pain-function-scores")
    answers, errors = forms.parse(q, MultiDict({"item.scale": f"{LOINC}|97909-6", "item.value": raw}))
    assert errors["value"].endswith("enter a number.") and "value" not in answers


def _answers(q, values: dict) -> dict:
    answers, errors = forms.parse(q, MultiDict(values), _env(esi_chart()))
    assert not errors, errors
    return answers


def test_conservative_therapy_extracts_a_procedure_that_closes_conservative_care_and_active_program():
    chart = esi_chart()
    q = questionnaires.get("conservative-therapy")
    kind = q["item"][0]["answerOption"][0]["valueCoding"]["system"]
    answers = _answers(q, {"item.kind": f"{kind}|therapy", "item.therapy-code": "http://www.ama-assn.org/go/cpt|97110",
                           "item.start": _iso(70), "item.ongoing": "true",
                           "item.response": "http://painpa.org/fhir/CodeSystem/therapy-response|no-improvement"})
    env = _env(chart)
    saved = _save_locally(q, answers, env, chart)
    proc = saved[-1]
    assert proc["resourceType"] == "Procedure" and proc["status"] == "in-progress"
    # Ongoing is recorded as ongoing (no end date); the policy counts it up to the evaluation date.
    assert proc["performedPeriod"] == {"start": _iso(70)} and proc["subject"] == {"reference": "Patient/pat-1"}
    assert proc["outcome"]["coding"][0]["code"] == "no-improvement"
    assert _status(chart, "esi.conservative-care") == "unmet"
    assert _status(saved, "esi.active-program") == "met" and _status(saved, "esi.conservative-care") == "met"


def test_an_ongoing_medication_is_recorded_without_an_end_and_counts_up_to_today():
    chart = esi_chart()
    q = questionnaires.get("conservative-therapy")
    kind = q["item"][0]["answerOption"][0]["valueCoding"]["system"]
    answers = _answers(q, {"item.kind": f"{kind}|medication", "item.drug": "http://www.nlm.nih.gov/research/umls/rxnorm|5640",
                           "item.med-start": _iso(35), "item.med-ongoing": "true",
                           "item.med-response": "http://painpa.org/fhir/CodeSystem/therapy-response|improved"})
    saved = _save_locally(q, answers, _env(chart), chart)
    med = saved[-1]
    assert med["status"] == "active" and med["effectivePeriod"] == {"start": _iso(35)}
    assert not invalid_resources([med])
    det = _worklist(saved).determinations[0]
    care = next(r for r in det.requirements if r.id == "esi.conservative-care")
    assert care.status.value == "met" and "5 weeks documented" in care.detail


def test_medication_branch_extracts_a_medication_statement():
    q = questionnaires.get("conservative-therapy")
    kind = q["item"][0]["answerOption"][0]["valueCoding"]["system"]
    answers = _answers(q, {"item.kind": f"{kind}|medication", "item.drug": "http://www.nlm.nih.gov/research/umls/rxnorm|25480",
                           "item.med-start": _iso(60), "item.med-end": _iso(2),
                           "item.med-response": "http://painpa.org/fhir/CodeSystem/therapy-response|improved"})
    out = [r for _, r, _ in extract(q, forms.response(q, answers, _env(esi_chart())), _env(esi_chart()))]
    assert [r["resourceType"] for r in out] == ["MedicationStatement"]
    med = out[0]
    assert med["status"] == "completed" and med["effectivePeriod"] == {"start": _iso(60), "end": _iso(2)}
    assert med["note"][0]["text"] == "Response: Improved, symptoms persist"


def test_score_diagnosis_and_imaging_close_their_requirements():
    chart = esi_chart()
    score = questionnaires.get("pain-function-scores")
    chart = _save_locally(score, _answers(score, {
        "item.scale": f"{LOINC}|72514-3", "item.nrs": "7", "item.date": _iso(3),
        "item.timing": "http://painpa.org/fhir/CodeSystem/score-timing|baseline"}), _env(chart), chart)
    assert chart[-1]["valueQuantity"]["value"] == 7 and chart[-1]["code"]["coding"][0]["code"] == "72514-3"
    assert _status(chart, "esi.baseline-scale") == "met"
    dx = questionnaires.get("diagnosis")
    chart = _save_locally(dx, _answers(dx, {"item.code": "http://hl7.org/fhir/sid/icd-10-cm|M54.16",
                                            "item.onset": _iso(120)}), _env(chart), chart)
    assert _status(chart, "esi.diagnosis") == "met" and _status(chart, "esi.pain-duration") == "met"
    img = questionnaires.get("imaging")
    chart = _save_locally(img, _answers(img, {
        "item.source": "http://painpa.org/fhir/CodeSystem/imaging-source|outside",
        "item.modality": "http://dicom.nema.org/resources/ontology/DCM|MR", "item.region": "http://snomed.info/sct|122496007",
        "item.study-date": _iso(40), "item.conclusion": "L5-S1 paracentral protrusion contacting the left S1 root."}),
        _env(chart), chart)
    assert chart[-1]["resourceType"] == "DiagnosticReport" and chart[-1]["code"]["text"] == "Magnetic Resonance Lumbar spine"
    assert _status(chart, "esi.imaging") == "met"


def test_prior_auth_decision_extracts_claim_and_claim_response_that_satisfy_pa():
    chart = esi_chart()
    q = questionnaires.get("prior-auth-decision")
    env = _env(chart)
    answers = _answers(q, {"item.channel": "http://painpa.org/fhir/CodeSystem/pa-channel|portal",
                           "item.utn": "JHA12345678901", "item.decision": "https://codesystem.x12.org/005010/306|A1",
                           "item.decision-date": _iso(1), "item.codes": "http://www.ama-assn.org/go/cpt|62323"})
    out = extract(q, forms.response(q, answers, env), env)
    claim, resp = out[0][1], out[1][1]
    assert claim["use"] == "preauthorization" and claim["item"] == [
        {"sequence": 1, "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "62323",
                                                         "display": "Injection, interlaminar epidural, lumbar or sacral, with imaging guidance"}]}}]
    assert resp["request"] == {"reference": out[0][0]} and resp["preAuthRef"] == "JHA12345678901"
    assert resp["preAuthPeriod"] == {"start": _iso(1), "end": (TODAY + timedelta(days=119)).isoformat()}
    saved = _save_locally(q, answers, env, chart)
    det = _worklist(saved).determinations[0]
    assert det.pa_needed == "satisfied" and det.prior_auth.utn == "JHA12345678901"


def test_medical_necessity_summary_is_specific_and_a_copy_is_refused():
    chart = esi_chart()
    q = questionnaires.get("medical-necessity")
    env = _env(chart)
    text = questionnaires.initial_answers(q, env)["summary"][0]["valueString"]
    assert "Ada Quill" in text and "62323" in text and "No qualifying diagnosis on file" in text
    answers = {"summary": [{"valueString": text + "\nRadicular pain limits walking to 1 block."}],
               "attest": [{"valueBoolean": True}]}
    saved = _save_locally(q, answers, env, chart)
    doc = saved[-1]
    assert base64.b64decode(doc["content"][0]["attachment"]["data"]).decode().endswith("1 block.")
    assert doc["context"]["related"] == [{"reference": "ServiceRequest/sr-esi-1"}]
    assert forms._duplicate_text(q, answers, _env(saved)) == {
        "summary": "This text is identical to a note already in the chart; write what is specific to this visit."}


def test_scs_readiness_preselects_the_section_of_the_requirement_clicked():
    q = questionnaires.get("scs-readiness")
    env = _env(esi_chart(), "scs.trial")
    assert [a["valueCoding"]["code"] for a in questionnaires.initial_answers(q, env)["sections"]] == ["trial"]
    answers = _answers(q, {"item.sections": "http://painpa.org/fhir/CodeSystem/readiness-section|trial",
                           "item.trial-code": "http://www.ama-assn.org/go/cpt|63650", "item.trial-start": _iso(20),
                           "item.trial-end": _iso(13), "item.baseline-nrs": "8", "item.trial-nrs": "3",
                           "item.relief": "62.5", "item.function": "true", "item.function-note": "Walks 30 minutes."})
    out = [r for _, r, _ in extract(q, forms.response(q, answers, env), env)]
    kinds = sorted((r["resourceType"], (r.get("code") or {}).get("coding", [{}])[0].get("code")) for r in out)
    assert kinds == [("Observation", "72514-3"), ("Observation", "72514-3"),
                     ("Observation", "trial-functional-improvement"), ("Procedure", "63650")]
    assert invalid_resources(out) == []


def test_attestation_code_is_prefilled_from_the_policy_requirement():
    q = questionnaires.get("attestation")
    env = _env(esi_chart(), "scs.multidisciplinary")
    assert questionnaires.initial_answers(q, env)["code"][0]["valueCoding"]["code"] == "multidisciplinary-evaluation"


def test_scs_readiness_closes_psych_trial_and_attestations_for_a_permanent_implant():
    chart = esi_chart()
    chart[-1]["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "63685"}]}
    gaps = ("scs.psych-eval", "scs.multidisciplinary", "scs.trial", "scs.trial-function")
    assert [_status(chart, g) for g in gaps] == ["unmet"] * 4
    q = questionnaires.get("scs-readiness")
    env = _env(chart)
    sec = "http://painpa.org/fhir/CodeSystem/readiness-section|"
    answers, errors = forms.parse(q, MultiDict([
        ("item.sections", sec + "psych"), ("item.sections", sec + "trial"), ("item.sections", sec + "multidisciplinary"),
        ("item.psych-code", "http://www.ama-assn.org/go/cpt|90791"), ("item.psych-date", _iso(30)),
        ("item.psych-evaluator", "Dr Rowe, PhD"), ("item.psych-result", "http://painpa.org/fhir/CodeSystem/psych-result|cleared"),
        ("item.trial-code", "http://www.ama-assn.org/go/cpt|63650"), ("item.trial-start", _iso(20)),
        ("item.trial-end", _iso(13)), ("item.baseline-nrs", "8"), ("item.trial-nrs", "3"), ("item.relief", "62.5"),
        ("item.function", "true"), ("item.function-note", "Walks 30 minutes; sleeps through the night."),
        ("item.multi-note", "Pain, spine surgery and PT reviewed on 2026-10-01; all agree."),
        ("item.perc-note", "ignored: this section was not chosen")]), env)
    assert not errors and "perc-note" not in answers
    saved = _save_locally(q, answers, env, chart)
    assert [_status(saved, g) for g in gaps] == ["met"] * 4
    psych = next(r for r in saved if (r.get("code") or {}).get("coding", [{}])[0].get("code") == "90791")
    assert psych["note"] == [{"text": "Evaluator: Dr Rowe, PhD"}]


def test_pva_readiness_closes_progression_and_osteoporosis_plan():
    chart = esi_chart()
    chart[-1]["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22514"}]}
    gaps = ("pva.progression", "pva.osteoporosis-plan")
    assert [_status(chart, g) for g in gaps] == ["unmet", "unmet"]
    q = questionnaires.get("pva-readiness")
    env = _env(chart, "pva.osteoporosis-plan")
    assert [a["valueCoding"]["code"] for a in questionnaires.initial_answers(q, env)["sections"]] == ["osteoporosis"]
    sec = "http://painpa.org/fhir/CodeSystem/pva-section|"
    answers, errors = forms.parse(q, MultiDict([
        ("item.sections", sec + "progression"), ("item.sections", sec + "osteoporosis"),
        ("item.prog-note", "L1 height loss 30% on repeat films; kyphosis progressing."),
        ("item.osteo-note", "Start alendronate; endocrine referral."), ("item.dxa-done", "true"),
        ("item.dxa-date", _iso(10)), ("item.dxa-result", "T-score -3.1")]), env)
    assert not errors
    saved = _save_locally(q, answers, env, chart)
    assert [_status(saved, g) for g in gaps] == ["met", "met"]
