"""The sandbox EHR's Schedule step in headless Chromium (appointment-book before the slot is booked;
CRD hooks.md "appointment-book"): a signed ESI order for ``tx-esi-ready`` (WISeR, criteria met, UTN
affirmed 10 days ago, valid 120 days) is scheduled next week — no warning, prior authorization
satisfied, the slot booked — then five months out, after the UTN lapses — a warning that names the
expiry and prior authorization needed again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cds_service.clock import today_utc
from cds_service.render.words import when
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import chromium

pytestmark = pytest.mark.browser
PATIENT = "tx-esi-ready"


def _schedule(page, when: str) -> None:
    page.fill('[data-testid="appointment-date"]', when)
    page.click('[data-testid="schedule-button"]')
    page.wait_for_function("!document.querySelector('[data-testid=schedule-status]').textContent"
                           ".startsWith('Scheduling:')", timeout=30_000)
    status = page.locator('[data-testid="schedule-status"]')
    assert status.get_attribute("data-booked") is not None, status.inner_text()
    assert "appointment-book:" in page.inner_text('[data-testid="hook-status"]')


def test_schedule_checks_the_utn_on_the_appointment_date(sandbox_server):
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{sandbox_server.base}/ehr/patients/{PATIENT}/order")
        page.wait_for_function("document.querySelector('[data-testid=hook-status]').textContent"
                               ".includes('order-select:')")
        page.click('[data-testid="sign-button"]')
        page.wait_for_selector('[data-testid="sign-status"][data-signed="true"]', timeout=30_000)

        soon = (today_utc() + timedelta(days=7)).isoformat()
        _schedule(page, soon)
        assert page.get_attribute('[data-testid="schedule-status"]', "data-booked") == "true"
        indicators = page.locator('[data-testid="card"]').evaluate_all("cs => cs.map(c => c.dataset.indicator)")
        assert "warning" not in indicators and "critical" not in indicators, page.inner_text("#cards")
        row = page.locator('[data-testid="coverage-row"]').first
        assert row.get_attribute("data-pa-needed") == "satisfied", row.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "schedule-01-utn-valid.png"), full_page=True)

        late_day = today_utc() + timedelta(days=150)
        late = late_day.isoformat()
        _schedule(page, late)
        # one card per order: the summary says the UTN expired, the card names which UTN
        warnings = page.locator('[data-testid="card"][data-indicator="warning"]').all_inner_texts()
        assert any("UTN expired" in c and "JHA10000000001" in c for c in warnings), warnings
        row = page.locator('[data-testid="coverage-row"]').first
        assert row.get_attribute("data-pa-needed") == "auth-needed", row.inner_text()
        assert when(late_day) in page.inner_text("#cards")     # the cards speak of the appointment's date
        page.screenshot(path=str(ARTIFACTS / "schedule-02-utn-lapsed.png"), full_page=True)
        assert not errors, errors
