"""Security layer of the service (CDS Hooks 2.0 §Security and Safety, §CORS; CRD security.md;
standards.md §1.9–1.10, §8; threat model in docs/security.md).

:func:`install` is called by the app factory: it installs the log redaction, configures the egress
guard and serves ``/openapi.json``. The optional Redis (shared counters) is reached through
cds_service/shared, behind its circuit breaker.
Views call :func:`enforce_rate_limit` once the caller is authenticated.
"""

from __future__ import annotations

import logging

from flask import Flask, abort, current_app

log = logging.getLogger(__name__)


def install(app: Flask) -> None:
    from cds_service.security import egress, openapi, redaction

    settings = app.extensions["painpa.settings"]
    redaction.install()
    redaction.forget_values(settings.secret_key or None)
    egress.configure(settings)
    app.register_blueprint(openapi.bp)


def enforce_rate_limit(iss: str) -> None:
    """Abort with 429 (Retry-After, OperationOutcome) when ``iss`` is over its per-minute budget."""
    from cds_service import shared
    from cds_service.security import ratelimit

    settings = current_app.extensions["painpa.settings"]
    counter = shared.cache_for(settings.redis_url) if settings.redis_url else None
    resp = ratelimit.check(current_app.extensions["painpa.db"], settings, iss, shared_cache=counter)
    if resp is not None:
        log.info("rate limit exceeded for a client")
        abort(resp)
