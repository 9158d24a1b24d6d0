"""The sandbox EHR's DTR launch, in headless Chromium against ``painpa sandbox`` started as a real
process: order-sign names the payer's forms (CRD coverage-information ``questionnaire``), the EHR
offers each one by its title (canonical resolution at painpa's DTR service) and launches the SMART
app with the order, the Coverage and the form in ``fhirContext`` (DTR 2.2 spec-113) → the app opens
that form directly, pre-populated from the chart."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium

pytestmark = pytest.mark.browser
PATIENT = "tx-esi-fix"


def test_the_ehr_launches_dtr_on_the_form_order_sign_names(sandbox_server):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{sandbox_server.base}/ehr/")
        page.click(f'[data-testid="patient-link-{PATIENT}"]')
        page.click('[data-testid="new-order"]')
        page.select_option('[data-testid="order-family"]', "esi")
        page.select_option('[data-testid="order-code"]', "64483")
        page.wait_for_selector('[data-testid="card"]')
        page.click('[data-testid="sign-button"]')
        button = page.locator('[data-testid="dtr-launch"][data-questionnaire*="conservative-therapy"]')
        button.wait_for(timeout=30_000)
        page.wait_for_function("[...document.querySelectorAll('[data-testid=dtr-launch]')]"
                               ".some(b => b.textContent.includes('Conservative'))")
        with context.expect_page() as popup:
            button.click()
        app = popup.value
        app.wait_for_selector('[data-testid="dtr-package"]', timeout=30_000)
        assert "/dtr/conservative-therapy" in app.url
        assert app.locator('[data-testid="dtr-package"]').get_attribute("data-questionnaire").endswith(
            "/Questionnaire/conservative-therapy")
        assert app.locator('[data-origin="auto"]').count() >= 1
