"""The sandbox app: the production app from ``cds_service.app.create_app`` (CDS Hooks service and
SMART app, unchanged) with the EHR surfaces mounted beside it under path prefixes:

``/fhir`` FHIR R4 server · ``/auth`` SMART authorization server · ``/ehr`` EHR screens ·
``/payer`` Da Vinci PAS payer. The EHR reaches the CDS service only over HTTP, with a signed JWT.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for

from cds_service.app import create_app
from cds_service.config import Settings
from sandbox import keys
from sandbox.auth import views as auth
from sandbox.auth.server import init_auth_server
from sandbox.ehr import views as ehr
from sandbox.fhir import views as fhir
from sandbox.payer import views as payer

SURFACES = (fhir.bp, auth.bp, ehr.bp, payer.bp)


def create_sandbox_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env(sandbox=True)
    app = create_app(settings)
    app.extensions["sandbox.key"] = keys.load_or_create(settings.home)
    init_auth_server(app, settings.base_url)
    for bp in SURFACES:
        app.register_blueprint(bp)

    @app.get("/")
    def _home():
        return redirect(url_for("sandbox_ehr.patients"))

    return app
