"""Accessibility checked, not claimed: axe-core (the axe.min.js bundled by axe-playwright-python,
run inside headless Chromium, nothing fetched) on every screen of the sandbox EHR, the SMART app,
the coordinator queue and the admin dashboard: no serious or critical violation. The counts per
screen go to tests/artifacts/clinic/axe-counts.json. Then the main loop by keyboard only: order →
card → app → fix → back to the EHR → sign (WCAG 2.1.1 Keyboard)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.clinic.helpers import axe, open_app, shot

pytestmark = pytest.mark.browser



def test_no_serious_or_critical_violation_on_any_screen(context, sandbox_server):
    base = sandbox_server.base
    found: list[str] = []
    page = context.new_page()

    # sandbox EHR
    page.goto(f"{base}/ehr/")
    found += axe(page, "ehr-patients")
    page.goto(f"{base}/ehr/patients/tx-esi-fix")
    page.wait_for_selector('[data-testid="chart-section-prior-authorization"]')
    found += axe(page, "ehr-chart")
    page.goto(f"{base}/ehr/patients/tx-esi-fix/order")
    page.wait_for_selector('[data-testid="card"]', timeout=30_000)
    found += axe(page, "ehr-order-cards")
    page.goto(f"{base}/ehr/patients/no-such-patient")
    found += axe(page, "ehr-not-found")

    # the sandbox authorization server's patient picker (a standalone launch) and its error page
    page.goto(f"{base}/smart/launch?iss={base}/fhir")
    page.wait_for_selector("form")
    found += axe(page, "ehr-auth-patient-picker")
    page.goto(f"{base}/auth/authorize?response_type=code&client_id=nobody")
    found += axe(page, "ehr-auth-error")

    # SMART app: start, worklist, forms (clean and with errors), packet, chronic pain page, error page
    page.goto(f"{base}/smart/launch")
    found += axe(page, "app-start")
    app = open_app(context, base, "oh-scs-nopsych")
    found += axe(app, "app-worklist")
    app.locator('details[data-testid^="met-"] summary').first.click()
    found += axe(app, "app-worklist-expanded")
    worklist = app.url
    order = app.locator('[data-testid="order"]').first.get_attribute("data-order-ref")
    for qid in ("conservative-therapy", "scs-readiness", "pain-function-scores", "imaging", "diagnosis",
                "attestation", "prior-auth-decision", "medical-necessity"):
        app.goto(f"{worklist}/form/{qid}?order={order}")
        app.wait_for_selector(f'[data-testid="form-{qid}"]')
        found += axe(app, f"app-form-{qid}")
    app.locator('[data-testid="form-submit"]').click()          # an empty required form: the error list
    app.wait_for_selector('[data-testid="form-errors"]')
    found += axe(app, "app-form-errors")
    app.goto(f"{worklist}/packet?order={order}")
    found += axe(app, "app-packet")
    app.goto(f"{worklist}/cpm")
    found += axe(app, "app-chronic-pain")
    app.goto(f"{worklist}/form/no-such-form?order={order}")
    found += axe(app, "app-error")

    # coordinator queue
    page.goto(f"{base}/ehr/")
    page.click('[data-testid="queue-link"]')
    page.wait_for_selector('[data-testid="queue"]', timeout=60_000)
    found += axe(page, "queue")

    # admin dashboard
    password = (sandbox_server.home / "sandbox-admin-password").read_text().strip()
    page.goto(f"{base}/admin/login")
    found += axe(page, "admin-login")
    page.fill("#username", "admin")
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    for path, name in (("/admin/", "admin-overview"), ("/admin/denials", "admin-denials"),
                       ("/admin/denials/unmapped", "admin-unmapped"), ("/admin/goldcard", "admin-goldcard"),
                       ("/admin/scorecard", "admin-scorecard"), ("/admin/import", "admin-import"),
                       ("/admin/queue", "admin-queue")):
        page.goto(base + path)
        found += axe(page, name)
    assert not found, "\n".join(found)


def test_axe_reports_a_planted_violation(context):
    """The check can fail: an unlabelled image and an unlabelled field are found and ranked."""
    page = context.new_page()
    page.set_content('<html lang="en"><title>t</title><main><img src="x.png"><input id="q"></main></html>')
    found = axe(page, "planted-violation")
    assert any("image-alt (critical)" in f for f in found) and any("label (critical)" in f for f in found), found


def _tab_to(page, selector: str, card_text: str = "", limit: int = 150) -> None:
    """Press Tab until the focused element matches ``selector`` (inside a card saying ``card_text``)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("([s, t]) => { const e = document.activeElement; return !!e && e.matches(s) && "
                         "(!t || (e.closest('[data-testid=card]') || {textContent: ''}).textContent.includes(t)); }",
                         [selector, card_text]):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_main_loop_by_keyboard_only(context, sandbox_server):
    base = sandbox_server.base
    ehr = context.new_page()
    ehr.goto(f"{base}/ehr/")
    _tab_to(ehr, '[data-testid="order-link-tx-esi-fix"]')
    ehr.keyboard.press("Enter")
    ehr.wait_for_selector('[data-testid="card-link"]', timeout=30_000)
    ehr.wait_for_function("document.querySelector('[data-testid=hook-status]').textContent.includes('order-select:')")

    # the card's SMART link, by keyboard: the app opens in a new tab
    _tab_to(ehr, '[data-testid="card-link"]', card_text="onservative")
    with context.expect_page() as popup:
        ehr.keyboard.press("Enter")
    app = popup.value
    app.wait_for_selector('[data-testid="worklist"]', timeout=60_000)
    _tab_to(app, '[data-testid="fix-esi.conservative-care"]')
    app.keyboard.press("Enter")
    app.wait_for_selector('[data-testid="form-conservative-therapy"]')

    # the fix form: choices with arrow keys / typing, dates typed into the date picker
    _tab_to(app, '[data-testid^="field-kind"]')
    _choose_by_keyboard(app, "kind", "therapy")
    _tab_to(app, '[data-testid^="field-therapy-code"]')
    _choose_by_keyboard(app, "therapy-code", "97110")
    _tab_to(app, '[data-testid="field-start"]')
    start = date.today() - timedelta(days=60)
    app.keyboard.type(start.strftime("%m%d%Y"))
    assert app.locator('[data-testid="field-start"]').input_value() == start.isoformat()
    _tab_to(app, '[data-testid="field-ongoing-yes"]')
    app.keyboard.press("Space")
    _tab_to(app, '[data-testid^="field-response"]')
    _choose_by_keyboard(app, "response", "no-improvement")
    _tab_to(app, '[data-testid="form-submit"]')
    app.keyboard.press("Enter")
    app.wait_for_selector('[data-testid="saved"]', timeout=30_000)
    assert app.locator('[data-testid="requirement-esi.conservative-care"]').get_attribute("data-status") == "met"
    assert app.locator('[data-testid="card-note"]').count() == 0     # no false "link already used"
    shot(app, "keyboard-fixed")
    app.close()

    # back in the EHR: sign by keyboard; Sign is then disabled and the result said in words
    ehr.bring_to_front()
    _tab_to(ehr, '[data-testid="sign-button"]')
    ehr.keyboard.press("Enter")
    ehr.wait_for_selector('[data-testid="sign-status"][data-signed]', timeout=30_000)
    status = ehr.locator('[data-testid="sign-status"]').inner_text()
    assert ehr.get_attribute('[data-testid="sign-status"]', "data-signed") == "true", status
    assert status.startswith("Signed: 64483") and "active order" in status and "ServiceRequest/" not in status
    assert ehr.locator('[data-testid="sign-button"]').is_disabled()


def _choose_by_keyboard(page, link: str, contains: str) -> None:
    """Pick an option of a focused <select> (type-ahead is unreliable: walk with the arrow keys) or
    of a radio group (arrow keys move and check), until its value contains ``contains``."""
    for _ in range(40):
        value = page.evaluate("() => document.activeElement.value")
        checked = page.evaluate("() => document.activeElement.type !== 'radio' || document.activeElement.checked")
        if contains in (value or "") and checked:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"no option containing {contains!r} for {link}")
