"""Pended → affirmed in headless Chromium against ``painpa sandbox`` as a real process (Da Vinci PAS
2.2.1 §"Pended authorizations"; Subscriptions R4 Backport IG rest-hook): a vertebral augmentation
ordered for a patient whose request carries no current imaging is pended by the sandbox payer; the
SMART app shows it pended and subscribes to the PAS topic; the payer decides after the configured
delay and notifies painpa, which reads the decision with ``$inquire``, stores it in the EHR, and the
page shows the order's prior authorization satisfied with its UTN, without a reload by the user."""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from sandbox.payer.rules import DEFAULT_RULES
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import chromium

pytestmark = pytest.mark.browser
PATIENT = "tx-pva-ready"


@pytest.fixture
def quick_payer(sandbox_server):
    """The shipped payer rules with the final decision 3 s after a pend, for this test only."""
    path = sandbox_server.home / "payer-rules.json"
    rules = json.loads(DEFAULT_RULES.read_text())
    rules["final_after_seconds"] = 3
    path.write_text(json.dumps(rules))
    yield sandbox_server
    path.unlink()


def _launch_url(base: str) -> str:
    hook = requests.post(base + "/ehr/api/hooks/order-select", timeout=60, json={
        "patient": PATIENT, "order": {"family": "pva", "code": "22514", "state": "TX", "pos": "22", "levels": 1,
                                      "laterality": "midline", "level": "L1"}}).json()
    card = next(c for c in hook["cards"] if any(lk.get("type") == "smart" for lk in c.get("links", [])))
    return requests.post(base + "/ehr/api/launch", timeout=10, json={
        "hookInstance": hook["hookInstance"], "card": card["uuid"], "link": 0, "patient": PATIENT}).json()["url"]


def test_the_app_shows_pended_then_affirmed_when_the_payer_notifies(quick_payer):
    base = quick_payer.base
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        app = context.new_page()
        errors: list[str] = []
        app.on("pageerror", lambda exc: errors.append(str(exc)))
        app.goto(_launch_url(base))
        app.wait_for_selector('[data-testid="worklist"]', timeout=30_000)
        app.locator('[data-testid^="pas-submit-"]').first.click()
        app.wait_for_selector('[data-testid="saved"]:has-text("A4")', timeout=30_000)
        pended = app.locator('[data-testid^="pa-pended-"]')
        assert pended.count() == 1 and "pended" in pended.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        app.screenshot(path=str(ARTIFACTS / "pas-pended.png"), full_page=True)

        # the payer decides after 3 s and notifies; the page asks painpa every 3 s and shows the decision
        app.wait_for_selector('[data-testid="saved"]:has-text("The payer has decided: prior authorization satisfied")', timeout=45_000)
        assert app.locator('[data-testid^="pa-pended-"]').count() == 0
        verdict = app.locator('[data-testid^="coverage-"][data-pa="satisfied"]')
        assert verdict.count() == 1 and "UTN JHA" in verdict.inner_text()   # a Texas (JH) UTN
        app.screenshot(path=str(ARTIFACTS / "pas-affirmed.png"), full_page=True)
        assert not errors, errors
        context.close()

    # it was the notification, not polling: painpa's subscription at the payer heard one event
    db = sqlite3.connect(quick_payer.home / "painpa.db")
    try:
        rows = db.execute("SELECT endpoint, events, status FROM sbx_payer_subscription").fetchall()
    finally:
        db.close()
    mine = [r for r in rows if "/smart/pas/notify/" in r[0]]
    assert mine and mine[-1][1] == 1 and mine[-1][2] == "off"   # ended by painpa once final
