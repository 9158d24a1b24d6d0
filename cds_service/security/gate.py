"""The security layer's two doors into the app (CDS Hooks 2.0 §Security and Safety; standards.md
§1.9–1.10, §8; threat model in docs/security.md).

:func:`install` is called by the app factory: it installs the log redaction, configures the egress
guard, gives ``/metrics`` its scrape token (cds_service/metrics.py: the token, or loopback only) and
serves ``/openapi.json``. The optional Redis (shared counters) is reached through
cds_service/shared, behind its circuit breaker.
Views call :func:`enforce_rate_limit` once the caller is authenticated.
"""

from __future__ import annotations

import logging

from flask import Flask

from cds_service import metrics, shared
from cds_service.config import Settings
from cds_service.security import egress, openapi, ratelimit, redaction
from cds_service.store.base import Database

log = logging.getLogger(__name__)


def install(app: Flask, settings: Settings) -> None:
    redaction.install()
    redaction.forget_values(settings.secret_key or None, settings.metrics_token or None)
    egress.configure(settings)
    app.config[metrics.SCRAPE_AUTH] = settings.metrics_token
    app.register_blueprint(openapi.bp)


def enforce_rate_limit(db: Database, settings: Settings, iss: str) -> None:
    """Raise :class:`~cds_service.security.ratelimit.RateLimited` (answered 429 with Retry-After by
    cds_service/http_errors.py) when ``iss`` is over its per-minute budget. The log line names the
    ``iss`` (verified by now, and not a secret), so an operator sees who is throttled."""
    counter = shared.cache_for(settings.redis_url) if settings.redis_url else None
    try:
        ratelimit.check(db, settings, iss, shared_cache=counter)
    except ratelimit.RateLimited:
        log.info("rate limit exceeded", extra={"iss": iss})
        raise
