"""Headless Debian Chromium driven by Playwright, launched one way for every browser test.

Playwright's own browser download does not work here, so the tests use /usr/bin/chromium (.ci/run
installs it). The background-networking flags keep Chromium from calling out of a closed network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium() -> Iterator:
    """Yield a Playwright ``Browser``; closed afterwards whatever the test did."""
    if not CHROMIUM.exists():
        raise RuntimeError("Debian chromium is not installed: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
