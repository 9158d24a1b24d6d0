"""The SMART app's client secret at an EHR that requires one (SMART App Launch 2.2
``client-confidential-symmetric``) is kept in the database, sealed with a key derived from
``PAINPA_SECRET_KEY`` (smart_app/registry.py): every instance reads it, ``PAINPA_HOME`` holds nothing
that must be copied, and neither a reader of the table nor an instance with another secret key can
use it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import pytest
from sqlalchemy import select

from cds_service import clients, state
from cds_service.app import create_app
from smart_app import registry
from smart_app.tables import SmartClientSecret
from tests.support.procs import VENV_BIN

BASE = "https://ehr.example.org/fhir"
SECRET = "the-ehr-issued-this-client-secret-0123"


@pytest.fixture
def app(settings):
    app = create_app(settings)
    clients.add_client(state.of(app).db, iss="https://ehr.example.org", jwks_url="https://ehr.example.org/jwks",
                       fhir_bases=[BASE], smart_client_id="painpa")
    yield app
    state.of(app).db.dispose()


def test_a_stored_secret_is_sealed_and_read_back(app, settings):
    db = state.of(app).db
    registry.store_secret(db, settings, BASE + "/", SECRET)
    with db.session() as s:
        sealed = s.scalars(select(SmartClientSecret.sealed)).one()
    assert SECRET not in sealed and sealed.count(".") == 4          # a JWE, not the secret
    assert registry.smart_client_for(db, BASE, settings).client_secret == SECRET
    registry.store_secret(db, settings, BASE, None)
    assert registry.smart_client_for(db, BASE, settings).client_secret is None


def test_another_secret_key_cannot_open_it_and_says_so(app, settings):
    db = state.of(app).db
    registry.store_secret(db, settings, BASE, SECRET)
    other = replace(settings, secret_key="Zq3vN8pL2mW7kR4tY9bC6xH1jF5dS0aG")
    with pytest.raises(registry.SecretUnreadable, match="PAINPA_SECRET_KEY") as err:
        registry.smart_client_for(db, BASE, other)
    assert err.value.status == 503


def test_the_previous_release_file_is_still_read(app, settings):
    (settings.home / registry.SECRETS_FILE).write_text(json.dumps({BASE: "from-the-old-file"}))
    assert registry.smart_client_for(state.of(app).db, BASE, settings).client_secret == "from-the-old-file"
    registry.store_secret(state.of(app).db, settings, BASE, SECRET)   # the database wins once set
    assert registry.smart_client_for(state.of(app).db, BASE, settings).client_secret == SECRET


def test_the_command_reads_the_secret_from_standard_input(tmp_path):
    env = {"PAINPA_HOME": str(tmp_path), "PAINPA_SECRET_KEY": "Vb7nM2kX9pQ4wR8tL3zC6yH1jD5fG0sA", "PATH": ""}
    painpa = str(VENV_BIN / "painpa")
    run = subprocess.run([painpa, "clients", "set-smart-secret", "--fhir-base", BASE], input=SECRET + "\n",
                         text=True, capture_output=True, env=env, timeout=60)
    assert run.returncode == 0 and SECRET not in run.stdout + run.stderr, run.stderr
    empty = subprocess.run([painpa, "clients", "set-smart-secret", "--fhir-base", BASE], input="",
                           text=True, capture_output=True, env=env, timeout=60)
    assert empty.returncode == 2 and "standard input" in empty.stderr
