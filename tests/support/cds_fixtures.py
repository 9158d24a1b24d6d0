"""Fixtures for the tests that call the CDS service in process (tests/cds, tests/security), listed in
``pytest_plugins`` of tests/conftest.py: an app on a fresh SQLite database with a registered client
(ES384 and RS384 keys generated per run), a ``Caller`` that signs each call, the fixture FHIR server
as its own process, and a JWK Set host."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from cds_service import clients, state
from cds_service.app import create_app
from tests.support import jwt as tjwt
from tests.support.cds_caller import Caller
from tests.support.fhir_server import FhirFixture
from tests.support.hook_requests import DATA, ISS
from tests.support.jwks_host import JwksHost
from tests.support.procs import free_port, running


@pytest.fixture(scope="session")
def es_key():
    return tjwt.make_key("ES384")


@pytest.fixture(scope="session")
def rs_key():
    return tjwt.make_key("RS384")


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory):
    """The fixture FHIR server as its own process; page size 4 so that searches page."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(port),
           "--data", str(DATA / "record.json"), "--page-size", "4"]
    with running(cmd, ready_url=f"{base}/fhir/metadata"):
        yield FhirFixture(base)


@pytest.fixture
def fhir(fhir_server):
    fhir_server.reset()
    yield fhir_server
    fhir_server.reset()


@pytest.fixture
def app(settings, es_key, rs_key, fhir_server):
    app = create_app(replace(settings, fhir_deadline_s=2.0, fhir_read_timeout_s=1.5))
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(es_key, rs_key),
                       fhir_bases=[fhir_server.base, "https://ehr.example.org/fhir"], tenant=None,
                       default_state="TX", default_pos="24")
    yield app
    state.of(app).db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def caller(app, es_key):
    return Caller(app, es_key)


@pytest.fixture
def jwks_host():
    host = JwksHost()
    yield host
    host.close()
