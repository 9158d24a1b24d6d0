"""The sandbox EHR's DTR launch, in headless Chromium against ``painpa sandbox`` started as a real
process: order-sign names the payer's forms (CRD coverage-information ``questionnaire``), the EHR
offers each one by its title (canonical resolution at painpa's DTR service) and launches the SMART
app with the order, the Coverage and the form in ``fhirContext`` (DTR 2.2 spec-113) → the app opens
that form directly, titled as the EHR offered it."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium

pytestmark = pytest.mark.browser
PATIENT = "tx-esi-noscore"   # no pain scores: order-sign asks for them (a chart no other test fixes)


def test_the_ehr_launches_dtr_on_the_form_order_sign_names(sandbox_server):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{sandbox_server.base}/ehr/")
        page.click(f'[data-testid="patient-link-{PATIENT}"]')
        page.click('[data-testid="new-order"]')
        page.select_option('[data-testid="order-family"]', "esi")
        page.select_option('[data-testid="order-code"]', "64483")
        page.wait_for_timeout(600)     # the selection's order-select (debounced 250 ms) answers before the sign
        page.wait_for_function("document.querySelector('[data-testid=hook-status]').textContent.includes('order-select:')")
        page.click('[data-testid="sign-button"]')
        page.wait_for_function("document.querySelector('[data-testid=hook-status]').textContent.includes('order-sign:')"
                               " && [...document.querySelectorAll('[data-testid=dtr-launch]')]"
                               ".some(b => b.textContent.includes(': '))", timeout=30_000)
        button = page.locator('[data-testid="dtr-launch"]').first
        canonical = button.get_attribute("data-questionnaire")
        title = button.inner_text().split(": ", 1)[1]
        form = canonical.split("|")[0].rsplit("/", 1)[1]
        with context.expect_page() as popup:
            button.click()
        app = popup.value
        app.wait_for_selector('[data-testid="dtr-package"]', timeout=30_000)
        assert f"/dtr/{form}?" in app.url                               # the form itself, not the worklist
        assert app.locator('[data-testid="dtr-package"]').get_attribute("data-questionnaire") == canonical.split("|")[0]
        assert app.locator("h1").inner_text() == title
