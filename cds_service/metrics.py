"""``/metrics`` in the Prometheus text exposition format 0.0.4: request counts by service and
status, and a latency histogram per service; no patient data in any label.

Under ``painpa serve`` the figures are the whole service's, summed over its worker processes
(prometheus_client's multiprocess mode: each worker writes its values to memory-mapped files in a
directory that ``painpa serve`` makes fresh at start-up, cds_service/serve.py, and a scrape reads
them all). A scrape that reaches any worker sees every call, and counters keep counting when
gunicorn recycles a worker (``max_requests``), so ``rate()`` is not fooled by a reset. In one
process (tests, ``painpa sandbox``) they are that process's.
"""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

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

bp = Blueprint("metrics", __name__)


def observe(service: str, status: int, seconds: float) -> None:
    _requests.labels(service, str(status)).inc()
    _seconds.labels(service).observe(seconds)


def exposition() -> bytes:
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)   # every worker's files, summed
        return generate_latest(registry)
    return generate_latest(_registry)


@bp.get("/metrics")
def metrics():
    return Response(exposition(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
