"""End to end in headless Chromium, the app's whole loop: an ESI order with every kind of gap the
policy engine reports → order-sign card → SMART launch inside the EHR's iframe → worklist → each
gap closed with a FHIR-native form → the next order-sign (a real, JWT-signed HTTP call) reports
``covered``, and ``satisfied`` with the UTN once the decision is recorded. Screenshots go to
tests/artifacts/smart/."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
import requests

from tests.smart.chart import esi_chart
from tests.smart.hooks import coverage, order_sign, smart_link
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import chromium

pytestmark = pytest.mark.browser
SCREENSHOTS = ARTIFACTS / "smart"
PATIENT, ORDER = "pat-e2e", "sr-e2e"
UTN = "JHA26330000123"


def _iso(days_ago: int) -> str:
    return (date.today() - timedelta(days=days_ago)).isoformat()


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def _shot(frame_page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    frame_page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _status(app, req: str) -> str:
    return app.locator(f'[data-testid="requirement-{req}"]').get_attribute("data-status")


def _fix(app, req: str):
    app.locator(f'[data-testid="fix-{req}"]').click()
    app.locator("form[data-testid^=form-]").wait_for()


def _save(app, page, name: str):
    _shot(page, f"form-{name}")
    app.locator('[data-testid="form-submit"]').click()
    app.locator('[data-testid="saved"]').wait_for()


def test_card_to_covered_and_satisfied_in_the_browser(stack, browser):
    ehr = stack.ehrs["normal"]
    chart = esi_chart(PATIENT, ORDER)
    ehr.seed(chart)
    order = next(r for r in chart if r["resourceType"] == "ServiceRequest")

    first = order_sign(stack, ehr, PATIENT, order)
    assert coverage(first)["covered"] == "conditional" and coverage(first)["doc-needed"] == "clinical"
    link = smart_link(first)
    assert link and link["url"] == stack.base + "/smart/launch"

    launch = ehr.launch({"patient": PATIENT, "encounter": "enc-e2e", "need_patient_banner": True,
                         "fhirContext": [{"reference": f"ServiceRequest/{ORDER}"}], "appContext": link["appContext"]})
    launch_url = link["url"] + "?" + urlencode({"iss": ehr.fhir, "launch": launch})
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{ehr.base}/_test/ehr?" + urlencode({"src": launch_url}))
    app = page.frame_locator("#app")
    app.locator('[data-testid="worklist"]').wait_for()
    assert app.locator('[data-testid="patient-banner"]').inner_text().startswith("Ada Quill")
    gaps = ["esi.diagnosis", "esi.pain-duration", "esi.conservative-care", "esi.active-program",
            "esi.baseline-scale", "esi.imaging"]
    assert [_status(app, g) for g in gaps] == ["unmet"] * len(gaps)
    _shot(page, "01-worklist-gaps")

    # Diagnosis and onset (closes diagnosis and pain duration)
    _fix(app, "esi.diagnosis")
    app.locator('[data-testid="field-code"]').select_option(label="Radiculopathy, lumbar region")
    app.locator('[data-testid="field-onset"]').fill(_iso(120))
    _save(app, page, "diagnosis")
    assert _status(app, "esi.diagnosis") == "met" and _status(app, "esi.pain-duration") == "met"

    # Conservative therapy, still ongoing (closes conservative care and the active program)
    _fix(app, "esi.conservative-care")
    app.locator('[data-testid="field-kind-1"]').check()
    app.locator('[data-testid="field-therapy-code"]').select_option(label="Physical therapy: therapeutic exercise (97110)")
    app.locator('[data-testid="field-start"]').fill(_iso(70))
    app.locator('[data-testid="field-ongoing-yes"]').check()
    app.locator('[data-testid="field-response-2"]').check()
    assert app.locator('[data-testid="field-drug"]').is_hidden()  # enableWhen: medication group stays hidden
    _save(app, page, "conservative-therapy")
    assert _status(app, "esi.conservative-care") == "met" and _status(app, "esi.active-program") == "met"

    # Baseline score: a bad value first gets a clear message, nothing is written
    _fix(app, "esi.baseline-scale")
    app.locator('[data-testid="field-scale"]').select_option(label="Pain severity 0-10 numeric rating (NRS)")
    app.locator('[data-testid="field-nrs"]').fill("14")
    app.locator('[data-testid="field-timing-1"]').check()
    app.locator('[data-testid="form-submit"]').click()
    assert "between 0 and 10" in app.locator('[data-testid="error-nrs"]').inner_text()
    _shot(page, "02-form-error")
    app.locator('[data-testid="field-nrs"]').fill("7")
    _save(app, page, "pain-score")
    assert _status(app, "esi.baseline-scale") == "met"

    # Outside MRI, linked to the order
    _fix(app, "esi.imaging")
    app.locator('[data-testid="field-source-2"]').check()
    app.locator('[data-testid="field-modality-1"]').check()
    app.locator('[data-testid="field-region-3"]').check()
    app.locator('[data-testid="field-study-date"]').fill(_iso(40))
    app.locator('[data-testid="field-conclusion"]').fill("L5-S1 protrusion contacting the left S1 nerve root.")
    _save(app, page, "imaging")
    assert _status(app, "esi.imaging") == "met"
    assert any(r["id"] == ORDER and r.get("supportingInfo") for r in ehr.resources("ServiceRequest"))

    # Medical-necessity summary drafted from this chart, edited for this visit
    oid = ORDER
    app.locator(f'[data-testid="open-medical-necessity-{oid}"]').click()
    summary = app.locator('[data-testid="field-summary"]')
    assert "Radiculopathy, lumbar region" in summary.input_value()
    summary.fill(summary.input_value() + "Left S1 radicular pain limits walking to one block despite PT.")
    app.locator('[data-testid="field-attest-yes"]').check()
    _save(app, page, "medical-necessity")
    _shot(page, "03-worklist-documented")

    second = order_sign(stack, ehr, PATIENT, order)
    assert coverage(second)["covered"] == "covered", coverage(second)
    assert coverage(second)["pa-needed"] == "auth-needed"

    # The decision arrives from the WISeR portal: record the UTN
    app.locator(f'[data-testid="open-prior-auth-decision-{oid}"]').click()
    app.locator('[data-testid="field-channel-1"]').check()
    app.locator('[data-testid="field-utn"]').fill(UTN)
    app.locator('[data-testid="field-decision-1"]').check()
    assert app.locator('[data-testid="field-codes-1"]').is_checked()  # pre-populated from the order
    _save(app, page, "prior-auth-decision")
    verdict = app.locator(f'[data-testid="coverage-{oid}"]')
    assert verdict.get_attribute("data-pa") == "satisfied" and UTN in verdict.inner_text()
    _shot(page, "04-worklist-satisfied")

    third = order_sign(stack, ehr, PATIENT, order)
    info = coverage(third)
    assert info["covered"] == "covered" and info["pa-needed"] == "satisfied" and info["satisfied-pa-id"] == UTN

    # The PA packet, printable and as PDF
    app.locator(f'[data-testid="packet-html-{oid}"]').click()
    assert UTN in app.locator('[data-testid="packet-determination"]').inner_text()
    _shot(page, "05-packet")
    pdf_url = page.frames[1].url.replace("/packet?", "/packet.pdf?")
    pdf = page.request.get(pdf_url)
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
    assert len(ehr.resources("QuestionnaireResponse")) >= 6
    assert requests.get(stack.base + "/healthz", timeout=5).status_code == 200
