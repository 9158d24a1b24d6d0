"""The admin dashboard in headless Chromium against ``painpa serve`` as a real process: users made
with ``painpa admin create-user``, data loaded with ``painpa admin import-*``, then login, the
denial-reason, gold-card and payer-scorecard pages (charts as inline SVG) and a CSV export.
Screenshots go to tests/artifacts/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import chromium
from tests.support.denial_data import DATA
from tests.support.procs import ROOT, VENV_BIN, free_port, running

PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.browser


def painpa(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "painpa"), *args], env={**os.environ, **env}, input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("dash")
    port = free_port()
    env = {"PAINPA_HOME": str(home), "PAINPA_BASE_URL": f"http://127.0.0.1:{port}"}
    made = painpa(env, "admin", "create-user", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    weak = painpa(env, "admin", "create-user", "weak", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least 12 characters" in weak.stderr
    for kind, name in (("denials", "denials.csv"), ("metrics", "metrics.csv")):
        done = painpa(env, "admin", f"import-{kind}", str(DATA / name))
        assert done.returncode == 0, done.stderr
    with running(["painpa", "serve", "--port", str(port)], ready_url=f"http://127.0.0.1:{port}/healthz",
                 env={**env, "PAINPA_WORKERS": "1"}, log_path=home / "serve.log"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        yield browser


def _new_page(browser):
    return browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True).new_page()


@pytest.fixture(scope="module")
def page(server, browser):
    """A page signed in as the admin, shared by the tests of the signed-in pages."""
    page = _new_page(browser)
    page.goto(f"{server}/admin/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/admin/")
    yield page
    page.context.close()


@pytest.fixture
def signed_out_page(browser):
    page = _new_page(browser)
    yield page
    page.context.close()


def test_login_is_required_and_wrong_password_refused(server, signed_out_page):
    page = signed_out_page
    page.goto(f"{server}/admin/goldcard")
    assert "/admin/login" in page.url
    page.fill("#username", "admin")
    page.fill("#password", "wrong password here")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text() == "Unknown user or wrong password."
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    assert page.url.endswith("/admin/goldcard")


def test_gold_card_page(server, page):
    page.goto(f"{server}/admin/goldcard?window=3650")
    assert "Threshold not published by CMS" in page.inner_text("main")
    rows = page.locator("tbody tr").all_inner_texts()
    assert any("Dr. Jordan Lee" in r and "WISeR" in r and "ready" in r for r in rows)
    assert any("Dr. Asha Patel" in r and "below threshold" in r for r in rows)
    assert page.locator("svg.chart rect").count() >= 4
    page.screenshot(path=str(ARTIFACTS / "dashboard-goldcard.png"), full_page=True)
    page.fill("#threshold", "70")
    page.click("text=Recalculate")
    assert any("Dr. Asha Patel" in r and "ready" in r for r in page.locator("tbody tr").all_inner_texts())


def test_denials_page_shows_top_requirements_per_plan(server, page):
    page.goto(f"{server}/admin/denials?months=60")
    text = page.inner_text("main")
    assert "Example Advantage Plan Gold HMO" in text
    assert "Conservative" in text or "esi.conservative-care" in text
    assert page.locator("svg.chart").count() >= 2
    page.screenshot(path=str(ARTIFACTS / "dashboard-denials.png"), full_page=True)
    with page.expect_download() as info:
        page.click("text=Export CSV")
    body = Path(info.value.path()).read_text()
    assert body.splitlines()[0] == "payer,plan,month,requirement,title,denials"
    assert "Example Advantage Plan,Gold HMO" in body


def test_scorecard_and_overview(server, page):
    page.goto(f"{server}/admin/scorecard")
    text = page.inner_text("main")
    assert "Example Advantage Plan · Gold HMO · 2026" in text and "88.5%" in text and "50.0%" in text
    page.screenshot(path=str(ARTIFACTS / "dashboard-scorecard.png"), full_page=True)
    page.goto(f"{server}/admin/denials/unmapped")
    assert "Duplicate claim/service" in page.inner_text("main")
    page.goto(f"{server}/admin/")
    assert "reasons to review" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)
