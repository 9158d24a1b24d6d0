"""Flask application factory (Flask tutorial style): one blueprint per surface, wired here with
ordinary imports.

Surfaces: ``health``, ``favicon`` and ``metrics`` (always), ``cds`` (CDS Hooks 2.0 discovery, services,
feedback), ``dtr`` (the Da Vinci DTR payer service), ``admin`` (the denial dashboard), ``smart`` (SMART App
Launch 2.2 documentation app) and
``cpm_app`` (its chronic pain management page); the sandbox adds its own EHR surfaces on top.
"""

from __future__ import annotations

from flask import Flask

from cds_service import favicon, health, metrics, state
from cds_service.admin import sessions as admin_sessions
from cds_service.admin import views as admin
from cds_service.chronic_pain import page as chronic_pain_page
from cds_service.config import Settings, secret_key
from cds_service.dtr import views as dtr
from cds_service.hooks import registry
from cds_service.hooks import views as hooks
from cds_service.http_errors import register_error_handlers
from cds_service.security import gate, request_ids
from cds_service.services import REGISTRY
from smart_app import views as smart

BLUEPRINTS = (health.bp, favicon.bp, metrics.bp, hooks.bp, dtr.bp, admin.bp, chronic_pain_page.bp, smart.bp)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    shared = state.build(settings)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # keep FHIR element order as rendered (readable responses)
    app.session_interface = admin_sessions.DatabaseSessionInterface()  # the cookie holds an opaque id only
    request_ids.install(app)  # first: X-Request-Id on every answer and log line (docs/security.md §2.5)
    state.install(app, shared)
    registry.install(app, REGISTRY)
    register_error_handlers(app)
    gate.install(app, settings)  # log redaction, egress guard, /openapi.json (docs/security.md)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    return app
