"""``/metrics`` in the Prometheus text exposition format 0.0.4: request counts by service and
status, a latency histogram per service, the FHIR reads per call and dependency failures; no
patient data in any label.

Under ``painpa serve`` the figures are the whole service's, summed over its worker processes
(prometheus_client's multiprocess mode: each worker writes its values to memory-mapped files in a
directory that ``painpa serve`` makes fresh at start-up, cds_service/serve.py, and a scrape reads
them all). A scrape that reaches any worker sees every call, and counters keep counting when
gunicorn recycles a worker (``max_requests``), so ``rate()`` is not fooled by a reset. In one
process (tests, ``painpa sandbox``) they are that process's.

``painpa_cds_requests_total`` counts every answer of a hook call by status, the refusals included:
429 (over the client's rate limit, cds_service/hooks/views.py) and 503 (database busy or
unavailable). ``painpa_dependency_errors_total{dependency}`` counts the failures met on the way:
``database`` (each 503 answered for it, cds_service/http_errors.py), ``redis`` (each Redis
operation that failed; none while the circuit breaker skips Redis, cds_service/shared/cache.py)
and ``fhir`` (each FHIR query of a hook call or SMART session that failed or missed the deadline,
whose resource type the answer then calls incomplete, cds_service/fhir/rounds.py).
``painpa_cds_fhir_reads{service}`` is a histogram of the FHIR requests each answered call sent
(cds_service/fhir/reads.py): its ``le="0"`` bucket counts the calls whose prefetch was honoured in
full, ``_sum / _count`` is the mean reads per call.

``/metrics`` is not public (it tells who calls how often and what fails): with
``PAINPA_METRICS_TOKEN`` set it answers only ``Authorization: Bearer <token>`` (RFC 6750 §2.1;
compared in constant time), from any address; without it, only a loopback client (127.0.0.0/8, ::1)
that came in directly: judged by the socket's address, never by ``X-Forwarded-For``, and a request
that carries a forwarding header (a proxy on the same host relayed it) is not loopback. Anything
else is a 401 with a JSON body (cds_service/http_errors.py answers it, as every error).
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, current_app, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from werkzeug.exceptions import Unauthorized

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
# prometheus_client reads PROMETHEUS_MULTIPROC_DIR once, when it is imported (painpa serve sets it
# before anything imports this module). What it then chose decides here, not the variable now, so a
# scrape never reads an empty directory while the counts sit in memory.
_MULTIPROCESS = values.ValueClass is not values.MutexValue

disable_created_metrics()   # no *_created series: only the counts and the histogram, as documented
_registry = CollectorRegistry()
_requests = Counter("painpa_cds_requests", "CDS service calls by service and HTTP status.",
                    ("service", "status"), registry=_registry)
_seconds = Histogram("painpa_cds_request_seconds", "CDS service call latency.", ("service",),
                     buckets=BUCKETS, registry=_registry)
_fhir_reads = Histogram("painpa_cds_fhir_reads", "FHIR requests sent per CDS service call (0: prefetch sufficed).",
                        ("service",), buckets=(0, 1, 2, 4, 8, 16, 32, 64), registry=_registry)
DEPENDENCIES = ("database", "redis", "fhir")
_dependency_errors = Counter("painpa_dependency_errors", "Failures of a dependency met while answering: database "
                             "busy or unavailable, Redis unavailable, FHIR queries failed or past the deadline.",
                             ("dependency",), registry=_registry)
for _dependency in DEPENDENCIES:
    _dependency_errors.labels(_dependency)   # every series from the start: a rate() over 0 → 1 sees the first error
# app.config key of the scrape token; cds_service/security/gate.py sets it from Settings.metrics_token.
SCRAPE_AUTH = "PAINPA_METRICS_TOKEN"
_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

bp = Blueprint("metrics", __name__)


def observe(service: str, status: int, seconds: float, fhir_reads: int | None = None) -> None:
    _requests.labels(service, str(status)).inc()
    _seconds.labels(service).observe(seconds)
    if fhir_reads is not None:
        _fhir_reads.labels(service).observe(fhir_reads)


def dependency_error(dependency: str, count: int = 1) -> None:
    """Count ``count`` failures of ``dependency`` (one of :data:`DEPENDENCIES`)."""
    if count > 0:
        _dependency_errors.labels(dependency).inc(count)


def _loopback(remote_addr: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)   # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or ip).is_loopback


def allowed(token: str, authorization: str | None, remote_addr: str | None, forwarded: bool) -> bool:
    """May this request read the metrics? See the module docstring."""
    if token:
        scheme, _, presented = (authorization or "").partition(" ")
        # compare_digest: the time taken does not tell how much of a guess matched.
        return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())
    return not forwarded and _loopback(remote_addr)


def exposition() -> bytes:
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)   # every worker's files, summed
        return generate_latest(registry)
    return generate_latest(_registry)


@bp.get("/metrics")
def metrics():
    if not allowed(current_app.config.get(SCRAPE_AUTH, ""), request.headers.get("Authorization"),
                   request.remote_addr, any(h in request.headers for h in _FORWARDING_HEADERS)):
        raise Unauthorized()
    return Response(exposition(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
