"""Fixtures for the sandbox tests: an in-process sandbox app (Flask test client) on a fresh
instance folder, bearer tokens from its own authorization server (issued directly, or by the
backend-services grant for the payer), and one real ``painpa sandbox``
process per session for the HTTP and browser tests."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from cds_service import state
from cds_service.config import Settings
from sandbox.app import create_sandbox_app
from sandbox.auth.apps import add_app
from sandbox.tokens import issue_direct
from tests.sandbox.helpers import PAS_SCOPES, client_credentials, new_key
from tests.support.artifacts import ARTIFACTS
from tests.support.procs import free_port, running

BASE = "http://127.0.0.1:8080"


@pytest.fixture
def app(tmp_path):
    settings = Settings.from_env(env={}, home=tmp_path / "instance", base_url=BASE, sandbox=True)
    application = create_sandbox_app(settings)
    application.config["TESTING"] = True
    yield application
    state.of(application).db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(app):
    """token(scope="user/*.cruds", patient=None) -> Authorization headers for the FHIR server."""

    def make(scope: str = "user/*.cruds", patient: str | None = None, expires_in: int = 300) -> dict:
        issued = issue_direct(state.of(app).db, client_id="test", scope=scope,
                              context={"patient": patient} if patient else {}, user="Practitioner/t",
                              expires_in=expires_in)
        return {"Authorization": f"Bearer {issued['access_token']}"}

    return make


@pytest.fixture
def pas_client(app):
    """A test client of the sandbox carrying a SMART Backend Services token for the payer's PAS API,
    got as an outside PAS client gets it: registered with its public key and the PAS scopes, then
    client_credentials with a ``private_key_jwt`` assertion at ``/auth/token``."""
    key = new_key()
    add_app(state.of(app).db, client_id="pas-test-client", jwks={"keys": [key.as_dict(private=False)]},
            scope=PAS_SCOPES, name="PAS test client")
    pas = app.test_client()
    issued = pas.post("/auth/token", data=client_credentials(key, "pas-test-client", f"{BASE}/auth/token"))
    assert issued.status_code == 200, issued.get_data(as_text=True)
    pas.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {issued.get_json()['access_token']}"
    return pas


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory):
    """A real ``painpa sandbox`` process on a free port with a fresh PAINPA_HOME; yields its base URL
    and how long it took from start to serving the EHR (printed, not asserted: no timed tests)."""
    home = tmp_path_factory.mktemp("sandbox-home")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    with running(["painpa", "sandbox", "--port", str(port)], ready_url=f"{base}/ehr/", timeout=60,
                 env={"PAINPA_HOME": str(home)},
                 log_path=ARTIFACTS / "sandbox-server.log"):
        print(f"\npainpa sandbox served the EHR {time.monotonic() - started:.1f} s after start (fresh instance)")
        yield SimpleNamespace(base=base, home=home)
