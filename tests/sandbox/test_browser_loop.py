"""The whole loop in headless Chromium against ``painpa sandbox`` started as a real process:
pick a patient → order an ESI (order-select fires) → cards → open the SMART app from the card's
link (EHR launch with appContext) → record the missing conservative therapy → request prior
authorization from the app (Da Vinci PAS to the sandbox payer) → sign (order-sign) → covered, with
the new UTN satisfying prior authorization. Screenshots of each step go to tests/artifacts/; with PAINPA_DOC_SCREENSHOTS=1 the
README images under docs/img/ are refreshed from the same run (on purpose only).

Selectors are ``data-testid`` attributes: the EHR's (sandbox/templates) and the SMART app's
(smart_app/templates: worklist ``requirement-<id>`` with ``data-status``, ``fix-<id>``, form
``field-<linkId>``, ``form-submit``)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import chromium

pytestmark = pytest.mark.browser
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PATIENT = "tx-esi-fix"


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def shot(page, name: str, doc: str | None = None) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"loop-{name}.png"), full_page=True)
    if doc and os.environ.get("PAINPA_DOC_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / f"{doc}.png"), full_page=False, type="png")


def answer(page, link: str, contains: str) -> None:
    """Answer a choice item of the app's form, rendered as a <select> (``field-<link>``) or as radio
    buttons (``field-<link>-<n>``): pick the option whose value or label contains ``contains``."""
    select = page.locator(f'select[data-testid="field-{link}"]')
    if select.count():
        for option in select.locator("option").all():
            value = option.get_attribute("value") or ""
            if value and (contains in value or contains in (option.text_content() or "")):
                select.select_option(value=value)
                return
    for radio in page.locator(f'input[data-testid^="field-{link}-"]').all():
        if contains in (radio.get_attribute("value") or ""):
            radio.check()
            return
    raise AssertionError(f"no answer containing {contains!r} for {link}")


def test_pick_order_cards_fix_in_app_sign_covered(browser, sandbox_server):
    base = sandbox_server.base
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # 1. pick a patient
    page.goto(f"{base}/ehr/")
    assert page.locator('[data-testid="patient-row"]').count() >= 20
    shot(page, "01-patients", "patients")
    page.click(f'[data-testid="patient-link-{PATIENT}"]')
    page.wait_for_selector('[data-testid="chart-section-prior-authorization"]')
    shot(page, "02-chart", "chart")

    # 2. order an ESI: selecting the procedure fires order-select
    page.click('[data-testid="new-order"]')
    page.select_option('[data-testid="order-family"]', "esi")
    page.select_option('[data-testid="order-code"]', "64483")
    page.wait_for_selector('[data-testid="card"]')
    page.wait_for_function("document.querySelector('[data-testid=hook-status]').textContent.includes('order-select:')")

    # 3. cards: a smart link offers the fix
    fix_card = page.locator('[data-testid="card"]', has=page.locator('[data-testid="card-link"]')).filter(
        has_text="onservative")
    assert fix_card.count() >= 1, page.locator('[data-testid="cards"]').inner_text()
    shot(page, "03-cards", "order-cards")

    # 4. open the SMART app from the card (EHR launch in a new tab)
    with context.expect_page() as popup_info:
        fix_card.first.locator('[data-testid="card-link"]').first.click()
    app = popup_info.value
    app.wait_for_selector('[data-testid="worklist"]', timeout=30_000)
    requirement = app.locator('[data-testid="requirement-esi.conservative-care"]')
    assert requirement.get_attribute("data-status") == "unmet"
    shot(app, "04-app-worklist", "smart-worklist")

    # 5. fix: record six weeks of physical therapy, ongoing alongside the injection
    app.click('[data-testid="fix-esi.conservative-care"]')
    app.wait_for_selector('[data-testid="form-conservative-therapy"]')
    answer(app, "kind", "therapy")
    answer(app, "therapy-code", "97110")
    app.fill('[data-testid="field-start"]', (date.today() - timedelta(days=56)).isoformat())
    app.fill('[data-testid="field-end"]', (date.today() - timedelta(days=7)).isoformat())
    app.check('[data-testid="field-ongoing-yes"]')
    answer(app, "response", "no-improvement")
    shot(app, "05-app-form", "smart-form")
    app.click('[data-testid="form-submit"]')
    app.wait_for_selector('[data-testid="saved"]', timeout=30_000)
    assert app.locator('[data-testid="requirement-esi.conservative-care"]').get_attribute("data-status") == "met"
    assert app.locator('[data-testid="card-note"]').count() == 0   # the card's link was used once, by this launch
    shot(app, "06-app-fixed")

    # 6. request prior authorization from the app: Da Vinci PAS $submit to the sandbox payer → affirmed UTN
    app.locator('[data-testid^="pas-submit-"]').first.click()
    app.wait_for_selector('[data-testid="saved"]:has-text("A1")', timeout=30_000)
    assert app.locator('[data-testid="card-note"]').count() == 0
    utn = app.locator('[data-testid="saved"]').inner_text().split("authorization number ")[1].split(".")[0].strip()
    shot(app, "07-app-pas-affirmed", "smart-pas")
    app.close()

    # 7. back in the EHR: sign → order-sign → covered, PA satisfied by the new UTN; the order is on the chart
    page.bring_to_front()
    page.click('[data-testid="sign-button"]')
    page.wait_for_selector('[data-testid="sign-status"][data-signed]', timeout=30_000)
    assert page.get_attribute('[data-testid="sign-status"]', "data-signed") == "true", page.inner_text("#sign-status")
    row = page.locator('[data-testid="coverage-row"]').first
    assert row.get_attribute("data-covered") == "covered", row.inner_text()
    assert row.get_attribute("data-pa-needed") == "satisfied" and "UTN" in row.inner_text()
    assert page.locator('[data-testid="sign-button"]').is_disabled()   # signed once
    assert page.inner_text("#sign-status").startswith("Signed: 64483")
    shot(page, "08-signed-covered", "signed-covered")
    page.goto(f"{base}/ehr/patients/{PATIENT}")
    assert "active" in page.locator('[data-testid="chart-section-orders"]').inner_text()
    # the payer's decision is on the chart once, though both the payer and the app recorded it
    assert page.locator('[data-testid="chart-section-prior-authorization"]').inner_text().count(f"UTN {utn}") == 1
    assert not errors, errors
    context.close()
