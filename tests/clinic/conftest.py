"""The clinic-readiness browser tests' fixtures: one real ``painpa sandbox`` process (tests/sandbox's
session fixture) and one headless Chromium per module, a fresh 1280x900 context per test."""

import pytest

from tests.sandbox.conftest import sandbox_server  # noqa: F401 - the session fixture, shared
from tests.support.browser import chromium


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    yield ctx
    ctx.close()
