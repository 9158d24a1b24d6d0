"""The throttled sign-in page in headless Chromium against ``painpa serve`` with two gunicorn workers
on one SQLite file (OWASP Authentication Cheat Sheet "Login throttling"): the page says in plain
words when to try again, the right password does not get through while paused, and the server log
holds no password. The window is a day long and the test starts well clear of its boundary (UTC
midnight), so the real clock cannot reset the count half-way."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.support.browser import chromium
from tests.support.procs import ROOT, VENV_BIN, free_port, running

PASSWORD = "correct horse battery staple"
GUESS = "hunter2-guess-xyz"

pytestmark = pytest.mark.browser


def test_paused_sign_in_page_says_when_to_try_again(tmp_path):
    if (to_midnight := 86400 - time.time() % 86400) < 180:
        time.sleep(to_midnight + 1)   # the fixed window would reset between the guesses
    port = free_port()
    env = {"PAINPA_HOME": str(tmp_path), "PAINPA_BASE_URL": f"http://127.0.0.1:{port}",
           "PAINPA_LOGIN_MAX_FAILURES": "3", "PAINPA_LOGIN_WINDOW_S": "86400", "PAINPA_WORKERS": "2"}
    made = subprocess.run([str(VENV_BIN / "painpa"), "admin", "create-user", "admin", "--password-stdin"],
                          env={**os.environ, **env}, input=PASSWORD + "\n", capture_output=True, text=True,
                          timeout=120, cwd=ROOT, check=False)
    assert made.returncode == 0, made.stderr
    log_path = tmp_path / "serve.log"
    with running(["painpa", "serve", "--port", str(port)], ready_url=f"http://127.0.0.1:{port}/healthz",
                 env=env, log_path=log_path), chromium() as browser:
        page = browser.new_context().new_page()
        statuses = []
        page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/admin/login") else None)
        page.goto(f"http://127.0.0.1:{port}/admin/login")
        for password in (GUESS, GUESS, GUESS, PASSWORD):
            page.fill("#username", "admin")
            page.fill("#password", password)
            page.click("button[type=submit]")
            page.wait_for_load_state()
        alert = page.get_by_role("alert").inner_text()
        assert statuses == [200, 401, 401, 401, 429]
        assert alert.startswith("Too many failed sign-in attempts. Sign-in is paused for ")
        assert "try again after" in alert and alert.endswith(" UTC.")
        assert "/admin/login" in page.url
    served = log_path.read_text()
    assert served.count("admin sign-in failed") == 3 and served.count("admin sign-in throttled") == 1
    assert GUESS not in served and PASSWORD not in served
