"""Patient-level forms over real HTTP (no browser): a form opened without an order is saved with the
launch encounter (else the patient) as its DTR qr-context; forms that read the order refuse to open
without one; the chronic pain management page (G3002/G3003) uses the same form page, and its
pages answer a stranger with the app's error page, never a 500."""

from __future__ import annotations

import re
from datetime import date, timedelta

import requests

from smart_app.forms import QR_CONTEXT
from tests.smart.chart import esi_chart

CPM = "http://painpa.org/fhir/CodeSystem/painpa-cpm"


def _chronic_pain(patient: str) -> list[dict]:
    onset = (date.today() - timedelta(days=200)).isoformat()
    return [*esi_chart(patient, f"sr-{patient}"),
            {"resourceType": "Condition", "id": f"lbp-{patient}", "subject": {"reference": f"Patient/{patient}"},
             "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                            "code": "active"}]},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.16"}]},
             "onsetDateTime": onset}]


def _launch(stack, ehr, patient: str, encounter: str | None = None):
    ehr.seed(_chronic_pain(patient))
    ctx = {"patient": patient, "fhirUser": "Practitioner/dr-1", **({"encounter": encounter} if encounter else {})}
    s = stack.browser()
    r = s.get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": ehr.launch(ctx)})
    assert r.status_code == 200, r.text[-500:]
    return s, r.url.rsplit("/", 1)[1]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _responses_about(ehr, reference: str) -> list[dict]:
    return [qr for qr in ehr.resources("QuestionnaireResponse")
            if any(e.get("url") == QR_CONTEXT and e["valueReference"] == {"reference": reference}
                   for e in qr.get("extension") or ())]


def test_a_form_without_an_order_is_saved_for_the_launch_encounter(stack):
    ehr = stack.ehrs["normal"]
    s, sid = _launch(stack, ehr, "pat-pl-enc", encounter="enc-pl-1")
    url = f"{stack.base}/smart/app/{sid}/form/pain-function-scores"
    page = s.get(url)
    assert page.status_code == 200 and 'data-testid="form-patient"' in page.text and "in this encounter" in page.text
    r = s.post(url, data={"csrf": _csrf(page.text), "item.scale": "http://loinc.org|72514-3",
                          "item.nrs": "7", "item.date": date.today().isoformat(),
                          "item.timing": "http://painpa.org/fhir/CodeSystem/score-timing|baseline"}, allow_redirects=False)
    assert r.status_code == 303 and "/smart/app/" in r.headers["Location"], r.text[-800:]
    saved = _responses_about(ehr, "Encounter/enc-pl-1")
    assert len(saved) == 1 and saved[0]["subject"] == {"reference": "Patient/pat-pl-enc"}


def test_a_form_that_reads_the_order_refuses_to_open_without_one(stack):
    ehr = stack.ehrs["normal"]
    s, sid = _launch(stack, ehr, "pat-pl-pa")
    before = len(ehr.resources("ClaimResponse"))
    r = s.get(f"{stack.base}/smart/app/{sid}/form/prior-auth-decision")
    assert r.status_code == 400 and "open it from the order" in r.text
    assert len(ehr.resources("ClaimResponse")) == before


def test_cpm_forms_save_through_the_app_form_page_for_the_patient(stack):
    ehr = stack.ehrs["normal"]
    s, sid = _launch(stack, ehr, "pat-pl-cpm")
    status = s.get(f"{stack.base}/smart/app/{sid}/cpm")
    assert status.status_code == 200 and 'data-testid="cpm-month"' in status.text
    assert "Content-Security-Policy" in status.headers  # the app's iframe headers on this blueprint too
    url = f"{stack.base}/smart/app/{sid}/cpm/form/cpm-time"
    form = s.get(url)
    assert form.status_code == 200 and 'data-testid="form-patient"' in form.text
    assert "Back to chronic pain management" in form.text
    bad = s.post(url, data={"csrf": _csrf(form.text), "item.date": date.today().isoformat(), "item.minutes": "0",
                            "item.activity": "Medication review"})
    assert bad.status_code == 422 and 'data-testid="error-minutes"' in bad.text
    r = s.post(url, data={"csrf": _csrf(form.text), "item.date": date.today().isoformat(), "item.minutes": "35",
                          "item.activity": "Medication review and PT call"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].split("?")[0].endswith(f"/smart/app/{sid}/cpm")
    assert len(_responses_about(ehr, "Patient/pat-pl-cpm")) == 1
    minutes = [o for o in ehr.resources("Observation") if o["subject"]["reference"] == "Patient/pat-pl-cpm"
               and (o["code"]["coding"][0]["system"], o["code"]["coding"][0]["code"]) == (CPM, "cpm-minutes")]
    assert [o["valueQuantity"]["value"] for o in minutes] == [35]
    after = s.get(r.headers["Location"] if r.headers["Location"].startswith("http") else stack.base + r.headers["Location"])
    assert 'data-testid="cpm-saved"' in after.text and "35 minutes documented" in after.text


def test_cpm_pages_answer_strangers_and_unknown_forms_with_the_error_page(stack):
    ehr = stack.ehrs["normal"]
    s, sid = _launch(stack, ehr, "pat-pl-err")
    stranger = requests.Session()
    stranger.trust_env = False
    for path in (f"/smart/app/{sid}/cpm", f"/smart/app/{sid}/cpm/form/cpm-time", "/smart/app/x1/cpm",
                 "/smart/app/x1/cpm/form/x1"):
        r = stranger.get(stack.base + path)
        assert r.status_code == 401 and "relaunch the app" in r.text, path
    r = s.get(f"{stack.base}/smart/app/{sid}/cpm/form/diagnosis")
    assert r.status_code == 404 and "not a chronic pain management form" in r.text
