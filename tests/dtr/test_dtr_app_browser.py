"""painpa's SMART app launched as a DTR SMART app, in headless Chromium (DTR 2.2.0 "Launching DTR"
spec-111..113, "Pre-Population", "User Interaction with Questionnaires", "Storing
QuestionnaireResponses"): a sandbox patient's chart (tx-esi-fix, 2 of 4 weeks of therapy) in an EHR,
a CRD order-sign that names the DTR forms, an EHR launch with the order and the Coverage in
``fhirContext`` → the package's form pre-populated from the chart (shown as such, saved in progress)
→ one pre-populated answer overridden, others typed → the completed QuestionnaireResponse on the
EHR's FHIR server with each answer's information origin → the next order-sign finds conservative
therapy documented."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

import pytest

from sandbox.seed.load import chart_bundle
from sandbox.seed.scenarios import SCENARIOS
from tests.smart.hooks import COVERAGE_INFO, order_sign
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import chromium

pytestmark = pytest.mark.browser
PATIENT, ORDER = "tx-esi-fix", "sr-dtr"
FORM = "http://painpa.org/fhir/Questionnaire/conservative-therapy"
ORIGIN = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/information-origin"


def _iso(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def _chart() -> list[dict]:
    scenario = next(s for s in SCENARIOS if s.pid == PATIENT)
    chart = [e["resource"] for e in chart_bundle(scenario, date.today())["entry"]]
    coverage = next(r for r in chart if r["resourceType"] == "Coverage")
    location = {"resourceType": "Location", "id": "loc-dtr", "address": {"state": "TX"},
                "type": [{"coding": [{"system": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/"
                                                "Place_of_Service_Code_Set", "code": "24"}]}]}
    order = {"resourceType": "ServiceRequest", "id": ORDER, "status": "draft", "intent": "order",
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "64483"}]},
             "subject": {"reference": f"Patient/{PATIENT}"}, "occurrenceDateTime": _iso(10),
             "authoredOn": _iso(0), "requester": {"reference": "Practitioner/dr-1"},
             "locationReference": [{"reference": "Location/loc-dtr"}],
             "insurance": [{"reference": f"Coverage/{coverage['id']}"}]}
    return [*chart, location, order]


def _canonicals(answer: dict) -> list[str]:
    ext = next(e for e in answer["systemActions"][0]["resource"]["extension"] if e["url"] == COVERAGE_INFO)
    return [s["valueCanonical"] for s in ext["extension"] if s["url"] == "questionnaire"]


def _dtr_responses(ehr) -> list[dict]:
    return [qr for qr in ehr.resources("QuestionnaireResponse")
            if qr.get("questionnaire", "").split("|")[0] == FORM and qr["subject"]["reference"] == f"Patient/{PATIENT}"]


def _origins(qr: dict) -> dict[str, str]:
    out = {}

    def visit(items):
        for item in items or ():
            for answer in item.get("answer") or ():
                origin = next(e for e in answer["extension"] if e["url"] == ORIGIN)
                out[item["linkId"]] = origin["extension"][0]["valueCode"]
            visit(item.get("item"))
    visit(qr.get("item"))
    return out


def test_launched_as_a_dtr_app_prepopulates_records_origins_and_fixes_the_order(stack):
    ehr = stack.ehrs["normal"]
    chart = _chart()
    ehr.seed(chart)
    order = chart[-1]
    coverage_ref = f"Coverage/{next(r['id'] for r in chart if r['resourceType'] == 'Coverage')}"
    first_therapy = min(r["performedPeriod"]["start"] if "performedPeriod" in r else r["performedDateTime"]
                        for r in chart if r["resourceType"] == "Procedure")[:10]

    first = order_sign(stack, ehr, PATIENT, order)
    assert FORM in _canonicals(first)            # CRD points DTR at the form…

    launch = ehr.launch({"patient": PATIENT, "fhirContext": [{"reference": f"ServiceRequest/{ORDER}"},
                                                             {"reference": coverage_ref}]})
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(f"{stack.base}/smart/launch?" + urlencode({"iss": ehr.fhir, "launch": launch}))
        page.locator('[data-testid="worklist"]').wait_for()
        sid = page.url.split("/smart/app/")[1].split("?")[0].split("/")[0]
        page.goto(f"{stack.base}/smart/app/{sid}/dtr/conservative-therapy?" + urlencode({"order": f"ServiceRequest/{ORDER}"}))
        package = page.locator('[data-testid="dtr-package"]')
        assert package.get_attribute("data-questionnaire") == FORM   # …and the app fetched that package
        assert page.locator('[data-testid="origin-therapy-code"]').get_attribute("data-origin") == "auto"
        assert "97110" in page.locator('[data-testid="field-therapy-code"]').input_value()
        assert page.locator('[data-testid="field-start"]').input_value() == first_therapy
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dtr-form-prepopulated.png"), full_page=True)

        drafts = _dtr_responses(ehr)               # saved in progress before anything was typed
        assert [qr["status"] for qr in drafts] == ["in-progress"]
        assert set(_origins(drafts[0]).values()) == {"auto"}

        page.locator('[data-testid="field-start"]').fill(_iso(-63))           # override a pre-populated answer
        page.locator('[data-testid="field-ongoing-yes"]').check()            # typed: nothing pre-populated
        page.locator('[data-testid="field-response-2"]').check()
        page.locator('[data-testid="form-submit"]').click()
        page.locator('[data-testid="saved"]').wait_for()
        assert page.locator('[data-testid="requirement-esi.conservative-care"]').get_attribute("data-status") == "met"

    saved = _dtr_responses(ehr)
    assert len(saved) == 1 and saved[0]["id"] == drafts[0]["id"] and saved[0]["status"] == "completed"
    assert _origins(saved[0]) == {"kind": "auto", "therapy-code": "auto", "start": "override",
                                  "ongoing": "manual", "response": "manual"}
    exts = {e["url"].rsplit("/", 1)[-1]: e for e in saved[0]["extension"]}
    assert exts["qr-coverage"]["valueReference"]["reference"] == coverage_ref
    assert exts["qr-context"]["valueReference"]["reference"] == f"ServiceRequest/{ORDER}"
    assert any(p.get("performedPeriod", {}).get("start") == _iso(-63) for p in ehr.resources("Procedure"))

    again = order_sign(stack, ehr, PATIENT, order)
    assert FORM not in _canonicals(again)
    assert not any(c["summary"].startswith("Conservative therapy") for c in again.get("cards", []))
