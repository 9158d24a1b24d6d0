"""Chronic pain management end to end, in headless Chromium against ``painpa sandbox`` as a real
process: the seeded chronic pain patient's chart shows this month's G3002/G3003 card (patient-view),
the month is completed through the SMART app (cpm-time and cpm-careplan forms, written as FHIR), and
the card then says it is billable. The same seeded sandbox also shows its payer history where a
clinician and an administrator meet it: seeded denials change the card of a later order of the same
payer, and the dashboard shows gold-card readiness and a payer scorecard (the dashboard's own
browser test, against ``painpa serve``, is tests/admin/test_dashboard_browser.py). Screenshots go
to tests/artifacts/."""

from __future__ import annotations

import os
import re

import pytest
import requests

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import chromium
from tests.support.procs import free_port, running

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    home = tmp_path_factory.mktemp("sbx-cpm")
    port = free_port()
    env = {"PAINPA_HOME": str(home), "PAINPA_BASE_URL": f"http://127.0.0.1:{port}"}
    with running(["painpa", "sandbox", "--port", str(port)], ready_url=f"http://127.0.0.1:{port}/healthz",
                 env={**os.environ, **env}, timeout=90, log_path=home / "sandbox.log"):
        yield f"http://127.0.0.1:{port}", home


@pytest.fixture(scope="module")
def context(sandbox):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        yield browser.new_context(viewport={"width": 1280, "height": 900})


def test_cpm_month_is_shown_and_completed_through_the_app(sandbox, context):
    base, _ = sandbox
    page = context.new_page()
    page.goto(f"{base}/ehr/patients/cpm-chronic")
    summary = page.locator('[data-testid="pv-card-summary"]').inner_text()
    assert "plan lacks strengths" in summary and "20 of 30 min" in summary, summary
    page.screenshot(path=str(ARTIFACTS / "cpm-chart-before.png"), full_page=True)

    with context.expect_page() as popup:
        page.click('[data-testid="pv-launch"]')
    app = popup.value
    app.wait_for_selector('[data-testid="open-cpm"]', timeout=30_000)
    app.click('[data-testid="open-cpm"]')
    assert app.get_attribute('[data-testid="cpm-cpm.care-plan"]', "data-status") == "unmet"

    app.click('[data-testid="cpm-add-time"]')
    app.wait_for_selector('[data-testid="form-cpm-time"]')
    app.fill('[data-testid="field-minutes"]', "15")
    app.fill('[data-testid="field-activity"]', "Reviewed pain diary and adjusted duloxetine; called PT")
    app.click('[data-testid="form-submit"]')
    app.wait_for_selector('[data-testid="cpm-saved"]', timeout=30_000)
    assert app.get_attribute('[data-testid="cpm-cpm.time"]', "data-status") == "met"

    app.click('[data-testid="cpm-edit-plan"]')
    app.wait_for_selector('[data-testid="form-cpm-careplan"]')
    app.fill('[data-testid="field-strengths"]', "Motivated; supportive daughter; walks daily")
    app.fill('[data-testid="field-goal"]', "Garden again")
    app.fill('[data-testid="field-outcome"]', "Two hours of gardening a week with pain at or below 4/10")
    app.fill('[data-testid="field-needs"]', "Medication management; PT home program; sleep hygiene")
    app.click('[data-testid="form-submit"]')
    app.wait_for_selector('[data-testid="cpm-saved"]', timeout=30_000)
    assert app.locator('[data-testid="cpm-billable"]').count() == 1, app.inner_text("main")
    app.screenshot(path=str(ARTIFACTS / "cpm-app-complete.png"), full_page=True)
    app.close()

    page.goto(f"{base}/ehr/patients/cpm-chronic")
    after = page.locator('[data-testid="pv-card-summary"]').inner_text()
    assert "G3002 ready to bill (35 min)" in after, after
    page.screenshot(path=str(ARTIFACTS / "cpm-chart-after.png"), full_page=True)


def test_seeded_denials_change_a_later_orders_card(sandbox):
    base, _ = sandbox
    order = {"family": "esi", "code": "64483", "levels": 1, "laterality": "left", "pos": "24", "level": "L4-L5",
             "state": "TX", "date": "2030-01-01"}
    answer = requests.post(f"{base}/ehr/api/hooks/order-select", json={"patient": "tx-esi-fix", "order": order},
                           timeout=30).json()
    details = " ".join(c["detail"] for c in answer["cards"])
    assert re.search(r"This payer \(Medicare Part A/B \(MAC\)\) denied \d+ of its last 10 lumbar ESIs for missing "
                     r"conservative-care \(PT\) duration", details), details


def test_dashboard_shows_gold_card_and_scorecard(sandbox, context):
    base, home = sandbox
    page = context.new_page()
    page.goto(f"{base}/admin/")
    page.fill("#username", "admin")
    page.fill("#password", (home / "sandbox-admin-password").read_text().strip())
    page.click("button[type=submit]")
    page.goto(f"{base}/admin/goldcard")
    rows = page.locator("tbody tr").all_inner_texts()
    assert any("Dr. Asha Patel" in r and "ready" in r for r in rows), rows
    assert any("Dr. Jordan Lee" in r and "below threshold" in r for r in rows), rows
    assert "Threshold not published by CMS" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "sandbox-dashboard-goldcard.png"), full_page=True)
    page.goto(f"{base}/admin/scorecard")
    text = page.inner_text("main")
    assert "Medicare Part A/B (MAC)" in text and "Example Advantage Plan" in text
    page.screenshot(path=str(ARTIFACTS / "sandbox-dashboard-scorecard.png"), full_page=True)
