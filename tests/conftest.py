"""Shared fixtures: an isolated instance folder per test, a PostgreSQL server per session, and a fresh
start for the process-wide state an earlier test may have left behind. The fixtures more than one test
package needs are in the modules of ``pytest_plugins`` (tests/support)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from cds_service.auth import jwks as jwks_cache
from cds_service.config import Settings
from cds_service.fhir import gather as gather_mod
from cds_service.security import egress
from tests.support.postgres import postgres_server

pytest_plugins = ["tests.support.cds_fixtures", "tests.support.policy_fixtures"]


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Every test starts as in a new process: no JWK Set or FHIR query result cached, and the egress
    guard strict with no allowed networks. The guard is process-wide and set by the app factory, so
    an earlier test's app (a sandbox app makes it permissive) would otherwise decide what this test's
    code may connect to."""
    jwks_cache.clear_cache()
    gather_mod.clear_cache()
    egress.configure(SimpleNamespace(egress_allow_networks=(), sandbox=False))
    egress.clear_cache()
    yield


@pytest.fixture
def threads_started(monkeypatch) -> list[str]:
    """The names of the threads started from here on in the test (``threading.Thread.start`` counted)."""
    started: list[str] = []
    real_start = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    return started


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(env={}, home=tmp_path / "instance", base_url="http://127.0.0.1:8080")


@pytest.fixture(scope="session")
def postgres_url():
    with postgres_server() as url:
        yield url
