"""A DTR launch on one form and a resumed in-progress QuestionnaireResponse, without a browser:
which painpa form a Questionnaire canonical names (DTR 2.2 "Retrieving Questionnaire Packages": a
version-specific canonical; an unknown one is said in words, never a 500), and the resume rules of
DTR 2.2 "Populating resumed QuestionnaireResponses" (spec-71: pre-population runs again for empty and
auto answers; spec-72: override and manual answers are kept, manual becoming override where
pre-population now finds a value)."""

from __future__ import annotations

import pytest

from cds_service.dtr import forms
from smart_app.discovery import LaunchError
from smart_app.dtr_app import form_of
from smart_app.dtr_populate import mark_origins, questionnaire_response, resume, saved_answers

FORM = "http://painpa.org/fhir/Questionnaire/conservative-therapy"


def test_a_painpa_canonical_names_its_form_with_or_without_its_version():
    version = forms.by_canonical(FORM)["version"]
    assert form_of(f"{FORM}|{version}") == form_of(FORM) == "conservative-therapy"


def test_another_version_of_a_painpa_form_is_refused_in_words():
    with pytest.raises(LaunchError) as err:
        form_of(f"{FORM}|0.0.1")
    assert err.value.status == 404
    assert "version 0.0.1" in err.value.message and "Conservative" in err.value.message


def test_a_canonical_painpa_does_not_serve_is_refused_in_words():
    with pytest.raises(LaunchError) as err:
        form_of("http://payer.example/fhir/Questionnaire/home-o2|1.0")
    assert err.value.status == 404 and "painpa does not provide" in err.value.message


def _qr(q, answers, origins_by_code):
    origins = {link: {"url": "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/information-origin",
                      "extension": [{"url": "source", "valueCode": code}]} for link, code in origins_by_code.items()}
    return questionnaire_response(q, answers, origins, status="in-progress", patient="Patient/p", coverage="Coverage/c",
                                  orders=["ServiceRequest/sr"], author=None, authored="2026-12-07T10:00:00Z")


def test_a_resumed_response_keeps_what_the_user_typed_and_refreshes_what_the_chart_gave():
    q = forms.catalogue()["diagnosis"]
    old_onset, new_onset = [{"valueDate": "2026-04-01"}], [{"valueDate": "2026-05-02"}]
    code = [{"valueCoding": {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.16"}}]
    saved_qr = _qr(q, {"code": code, "onset": old_onset, "note": [{"valueString": "worse on standing"}]},
                   {"code": "auto", "onset": "override", "note": "manual"})
    saved, origins = saved_answers(saved_qr)
    assert saved["onset"] == old_onset and origins == {"code": "auto", "onset": "override", "note": "manual"}

    chart_now = {"code": [{"valueCoding": {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M51.16"}}],
                 "onset": new_onset, "note": [{"valueString": "from a note in the chart"}]}
    answers, shown = resume(saved, origins, chart_now)
    assert answers["code"] == chart_now["code"] and shown["code"] == "auto"            # spec-71: run again
    assert answers["onset"] == old_onset and shown["onset"] == "override"              # spec-72: kept
    assert answers["note"] == saved["note"] and shown["note"] == "override"            # manual → override

    nothing_now = resume(saved, origins, {})
    assert nothing_now[0] == saved and nothing_now[1] == origins                       # nothing lost

    # Completing it: an override that happens to equal the chart's value is never turned back into auto.
    final = mark_origins(q, {**answers, "onset": new_onset}, chart_now, author="Practitioner/dr-1", previous=shown)
    assert {k: v["extension"][0]["valueCode"] for k, v in final.items()} == {
        "code": "auto", "onset": "override", "note": "override"}
