"""The sandbox app: the production app from ``cds_service.app.create_app`` (CDS Hooks service and
SMART app, unchanged) with the EHR surfaces mounted beside it under path prefixes:

``/fhir`` FHIR R4 server · ``/auth`` SMART authorization server · ``/ehr`` EHR screens ·
``/payer`` Da Vinci PAS payer. The EHR reaches the CDS service only over HTTP, with a signed JWT.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for

import sandbox.tables  # noqa: F401 - the sandbox's tables, created below beside the product's
from cds_service import state
from cds_service.app import create_app
from cds_service.config import Settings
from sandbox import keys
from sandbox import state as sandbox_state
from sandbox.auth import views as auth
from sandbox.auth.server import init_auth_server
from sandbox.cdsclient import Answers, CdsClient
from sandbox.ehr import views as ehr
from sandbox.fhir import views as fhir
from sandbox.payer import views as payer
from sandbox.setup import ehr_iss

SURFACES = (fhir.bp, auth.bp, ehr.bp, payer.bp)


def create_sandbox_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env(sandbox=True)
    app = create_app(settings)
    key = keys.load_or_create(settings.home)
    base = settings.base_url
    sandbox_state.install(app, sandbox_state.SandboxState(
        key=key, auth_server=init_auth_server(app, base),
        cds=CdsClient(base, ehr_iss(base), key), answers=Answers()))
    for bp in SURFACES:
        app.register_blueprint(bp)
    # The product's create_app opened the database with the product's schema (its migrations); the
    # sandbox's own tables (sandbox.tables, imported above), which no migration knows, are created here.
    state.of(app).db.create_all()

    @app.get("/")
    def _home():
        return redirect(url_for("sandbox_ehr.patients"))

    return app
