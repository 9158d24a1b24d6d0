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

from cds_service.dtr import forms as dtr_forms
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


def _chart(order_id: str = ORDER) -> list[dict]:
    scenario = next(s for s in SCENARIOS if s.pid == PATIENT)
    chart = [e["resource"] for e in chart_bundle(scenario, date.today())["entry"]]
    coverage = next(r for r in chart if r["resourceType"] == "Coverage")
    location = {"resourceType": "Location", "id": "loc-dtr", "address": {"state": "TX"},
                "type": [{"coding": [{"system": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/"
                                                "Place_of_Service_Code_Set", "code": "24"}]}]}
    order = {"resourceType": "ServiceRequest", "id": order_id, "status": "draft", "intent": "order",
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "64483"}]},
             "subject": {"reference": f"Patient/{PATIENT}"}, "occurrenceDateTime": _iso(10),
             "authoredOn": _iso(0), "requester": {"reference": "Practitioner/dr-1"},
             "locationReference": [{"reference": "Location/loc-dtr"}],
             "insurance": [{"reference": f"Coverage/{coverage['id']}"}]}
    return [*chart, location, order]


def _canonicals(answer: dict) -> list[str]:
    ext = next(e for e in answer["systemActions"][0]["resource"]["extension"] if e["url"] == COVERAGE_INFO)
    return [s["valueCanonical"] for s in ext["extension"] if s["url"] == "questionnaire"]


def _dtr_responses(ehr, order_id: str = ORDER) -> list[dict]:
    return [qr for qr in ehr.resources("QuestionnaireResponse")
            if qr.get("questionnaire", "").split("|")[0] == FORM and qr["subject"]["reference"] == f"Patient/{PATIENT}"
            and {"valueReference": {"reference": f"ServiceRequest/{order_id}"}}.items() <= next(
                (e for e in qr.get("extension", []) if e["url"].endswith("qr-context")), {}).items()]


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


def _open(browser, stack, ehr, fhir_context: list[dict]):
    """A new window launched by the EHR with this ``fhirContext``; the page it lands on."""
    page = browser.new_context().new_page()
    launch = ehr.launch({"patient": PATIENT, "fhirContext": fhir_context})
    page.goto(f"{stack.base}/smart/launch?" + urlencode({"iss": ehr.fhir, "launch": launch}))
    page.wait_for_load_state()
    return page


def test_a_launch_naming_the_form_opens_it_and_a_relaunch_resumes_what_was_typed(stack):
    """DTR 2.2 spec-113 (fhirContext: the order, the Coverage and the form), "Retrieving Questionnaire
    Packages" (a version-specific Questionnaire canonical), spec-151 (save in progress, relaunch later),
    spec-71/72 (a resumed response: typed answers kept with their origin, pre-population run again)."""
    ehr, order_id = stack.ehrs["normal"], "sr-dtr-resume"
    chart = _chart(order_id)
    ehr.seed(chart)
    coverage = {"reference": f"Coverage/{next(r['id'] for r in chart if r['resourceType'] == 'Coverage')}"}
    canonical = f"{FORM}|{dtr_forms.by_canonical(FORM)['version']}"
    context = [{"reference": f"ServiceRequest/{order_id}"}, coverage, {"canonical": canonical, "type": "Questionnaire"}]
    with chromium() as browser:
        page = _open(browser, stack, ehr, context)
        assert "/dtr/conservative-therapy" in page.url                 # the form, not the worklist
        assert page.locator('[data-testid="dtr-package"]').get_attribute("data-questionnaire") == FORM
        assert page.locator('[data-testid="origin-therapy-code"]').get_attribute("data-origin") == "auto"
        assert "from the chart" in page.locator('[data-testid="origin-therapy-code"]').inner_text()
        page.locator('[data-testid="field-ongoing-yes"]').check()       # typed, then the window is left
        page.locator('[data-testid="form-later"]').click()
        page.locator('[data-testid="dtr-kept"]').wait_for()
        page.close()

        drafts = _dtr_responses(ehr, order_id)
        assert [qr["status"] for qr in drafts] == ["in-progress"]
        assert _origins(drafts[0])["ongoing"] == "manual" and _origins(drafts[0])["therapy-code"] == "auto"

        again = _open(browser, stack, ehr, context)                  # relaunch: the typed answer is back
        assert "/dtr/conservative-therapy" in again.url
        again.locator('[data-testid="dtr-resumed"]').wait_for()
        assert again.locator('[data-testid="field-ongoing-yes"]').is_checked()
        assert again.locator('[data-testid="origin-ongoing"]').get_attribute("data-origin") == "manual"
        assert "typed by you" in again.locator('[data-testid="origin-ongoing"]').inner_text()
        assert again.locator('[data-testid="origin-therapy-code"]').get_attribute("data-origin") == "auto"
        again.close()

        by_response = _open(browser, stack, ehr, [{"reference": f"QuestionnaireResponse/{drafts[0]['id']}"}, coverage])
        assert "/dtr/conservative-therapy" in by_response.url and f"order=ServiceRequest/{order_id}" in by_response.url
        assert by_response.locator('[data-testid="field-ongoing-yes"]').is_checked()
        by_response.locator('[data-testid="field-response-2"]').check()
        by_response.locator('[data-testid="form-submit"]').click()
        by_response.locator('[data-testid="saved"]').wait_for()

        saved = _dtr_responses(ehr, order_id)
        assert len(saved) == 1 and saved[0]["id"] == drafts[0]["id"] and saved[0]["status"] == "completed"
        assert _origins(saved[0])["ongoing"] == "manual" and _origins(saved[0])["therapy-code"] == "auto"

        unknown = _open(browser, stack, ehr, [{"reference": f"ServiceRequest/{order_id}"}, coverage,
                                              {"canonical": "http://payer.example/Questionnaire/other|1", "type": "Questionnaire"}])
        message = unknown.locator('[data-testid="error-message"]').inner_text()
        assert "painpa does not provide" in message and "worklist" in message
        unknown.locator('[data-testid="error-worklist"]').click()
        unknown.locator('[data-testid="worklist"]').wait_for()

        old = _open(browser, stack, ehr, [{"reference": f"ServiceRequest/{order_id}"}, coverage,
                                          {"canonical": f"{FORM}|0.0.1", "type": "Questionnaire"}])
        assert "provides version" in old.locator('[data-testid="error-message"]').inner_text()
