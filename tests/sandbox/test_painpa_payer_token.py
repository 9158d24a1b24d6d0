"""painpa's side of the protected payer API (smart_app/backend.py; SMART App Launch 2.2
backend-services.md): against a running sandbox, painpa discovers the payer's token endpoint, signs a
client assertion with its own key, gets a ``system/`` token, keeps it, and gets a new one when told
to forget it; a payer that offers no client_credentials grant gets no token. The browser loop
(test_browser_loop.py) submits through it from the app."""

from __future__ import annotations

import pytest
import requests

from cds_service.config import Settings
from cds_service.security import egress
from cds_service.store.base import Database
from smart_app import backend
from smart_app.discovery import LaunchError


@pytest.fixture
def painpa_db(sandbox_server, monkeypatch):
    """The running sandbox's own database and settings, as its painpa half reads them."""
    monkeypatch.setattr(egress.policy, "permissive", True)   # the sandbox's loopback, as `painpa sandbox` allows it
    settings = Settings.from_env(env={}, home=sandbox_server.home, base_url=sandbox_server.base, sandbox=True)
    db = Database(settings.database_url)
    yield db, settings
    db.dispose()


def test_painpa_gets_a_backend_token_for_the_payer_and_keeps_it(sandbox_server, painpa_db):
    db, settings = painpa_db
    payer = f"{sandbox_server.base}/payer"
    backend.forget(payer)
    headers = backend.payer_headers(db, settings, payer)
    assert headers["Authorization"].startswith("Bearer ")
    assert backend.payer_headers(db, settings, payer) == headers          # kept, not fetched again
    backend.forget(payer)
    renewed = backend.payer_headers(db, settings, payer)
    assert renewed != headers
    # The token is a payer token: the payer accepts it (a bad body, but past the token check: 400 not 401).
    resp = requests.post(f"{payer}/Claim/$submit", json={"resourceType": "Patient"}, timeout=10, headers=renewed)
    assert resp.status_code == 400 and resp.json()["resourceType"] == "OperationOutcome"
    # … and it is limited to the PAS scopes: the EHR's FHIR API refuses it for a Patient search.
    fhir = requests.get(f"{sandbox_server.base}/fhir/Patient", timeout=10, headers=renewed)
    assert fhir.status_code == 403


def test_no_token_for_a_base_without_backend_services_or_unregistered(sandbox_server, painpa_db, monkeypatch):
    db, settings = painpa_db
    assert backend.payer_headers(db, settings, "http://127.0.0.1:9/not-registered") == {}
    # The EHR's FHIR base is registered too; if its configuration offered no client_credentials, no token.
    monkeypatch.setattr(backend, "_token_endpoint", lambda base: None)
    backend.forget(f"{sandbox_server.base}/fhir")
    assert backend.payer_headers(db, settings, f"{sandbox_server.base}/fhir") == {}


@pytest.mark.parametrize("scopes", [
    "system/Claim.cr user/Patient.rs",   # client_credentials grants system/ scopes only
    "system/Patient.rs",                 # painpa's client is pre-authorized for the PAS scopes, not the EHR's data
])
def test_a_refused_token_request_is_a_clear_error(sandbox_server, painpa_db, monkeypatch, scopes):
    db, settings = painpa_db
    payer = f"{sandbox_server.base}/payer"
    backend.forget(payer)
    monkeypatch.setattr(backend, "PAS_SCOPES", scopes)
    with pytest.raises(LaunchError, match="invalid_scope"):
        backend.payer_headers(db, settings, payer)
