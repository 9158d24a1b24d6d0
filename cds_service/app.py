"""Flask application factory (Flask tutorial style): one blueprint per surface.

Surfaces: ``health`` (always), ``cds`` (CDS Hooks 2.0 discovery, services, feedback), ``smart``
(SMART App Launch 2.2 documentation app); the sandbox adds its own EHR surfaces on top.
"""

from __future__ import annotations

import importlib
import secrets

from flask import Flask

from cds_service import security
from cds_service.config import Settings
from cds_service.fhir.client import new_pool
from cds_service.hooks.errors import register_error_handlers
from cds_service.store import init_db

# (module, attribute) of every blueprint the production service serves.
BLUEPRINTS: tuple[tuple[str, str], ...] = (
    ("cds_service.health", "bp"),
    ("cds_service.metrics", "bp"),
    ("cds_service.hooks.views", "bp"),
    ("cds_service.admin", "bp"),
    ("cds_service.insights.cpm_app", "bp"),
    ("smart_app.views", "bp"),
)


def _secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = settings.home / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _load_policies():
    """Policy data is validated once at start-up: a broken policy file stops the service here,
    naming file and field, rather than failing hook calls later."""
    try:
        from cds_service.policy.loader import load_policies
    except ModuleNotFoundError as exc:  # policy package not installed in this build: /readyz says so
        if exc.name != "cds_service.policy.loader":
            raise
        return None
    return load_policies()


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # keep FHIR element order as rendered (readable responses)
    app.extensions["painpa.settings"] = settings
    app.extensions["painpa.db"] = init_db(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    app.extensions["painpa.policies"] = _load_policies()
    app.extensions["painpa.fhir_pool"] = new_pool()
    register_error_handlers(app)
    security.install(app)  # log redaction, egress guard, /openapi.json (docs/security.md)
    for module, attr in BLUEPRINTS:
        app.register_blueprint(getattr(importlib.import_module(module), attr))
    return app
