"""Security layer of the service (CDS Hooks 2.0 §Security and Safety, §CORS; CRD security.md;
standards.md §1.9–1.10, §8; threat model in docs/security.md).

:func:`install` is called by the app factory: it installs the log redaction, configures the egress
guard, connects the optional Redis used for shared counters, and serves ``/openapi.json``.
Views call :func:`enforce_rate_limit` once the caller is authenticated.
"""

from __future__ import annotations

import logging

from flask import Flask, abort, current_app

log = logging.getLogger(__name__)


def redis_client(url: str):
    """The deployment's Redis (engineer 6's client settings: short timeouts, no retries), or None."""
    if not url:
        return None
    from cds_service.shared import redis_client as shared_client

    return shared_client(url)


def install(app: Flask) -> None:
    from cds_service.security import egress, openapi, redaction

    settings = app.extensions["painpa.settings"]
    redaction.install()
    redaction.forget_values(settings.secret_key or None)
    egress.configure(settings)
    app.extensions["painpa.redis"] = redis_client(settings.redis_url)
    app.register_blueprint(openapi.bp)


def enforce_rate_limit(iss: str) -> None:
    """Abort with 429 (Retry-After, OperationOutcome) when ``iss`` is over its per-minute budget."""
    from cds_service.security import ratelimit

    resp = ratelimit.check(current_app.extensions["painpa.db"], current_app.extensions["painpa.settings"], iss,
                           redis_client=current_app.extensions.get("painpa.redis"))
    if resp is not None:
        log.info("rate limit exceeded for a client")
        abort(resp)
