"""``/metrics`` in the Prometheus text exposition format 0.0.4: request counts by service and
status, and a latency histogram per service. Per process (each gunicorn worker answers for itself);
no patient data in any label.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from flask import Blueprint, Response

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)

_lock = threading.Lock()
_requests: dict[tuple[str, int], int] = defaultdict(int)
_hist: dict[str, list[int]] = {}
_sum: dict[str, float] = defaultdict(float)
_count: dict[str, int] = defaultdict(int)

bp = Blueprint("metrics", __name__)


def observe(service: str, status: int, seconds: float) -> None:
    with _lock:
        _requests[(service, status)] += 1
        counts = _hist.setdefault(service, [0] * len(BUCKETS))
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        _sum[service] += seconds
        _count[service] += 1


def exposition() -> str:
    lines = [
        "# HELP painpa_cds_requests_total CDS service calls by service and HTTP status.",
        "# TYPE painpa_cds_requests_total counter",
    ]
    with _lock:
        for (service, status), n in sorted(_requests.items()):
            lines.append(f'painpa_cds_requests_total{{service="{service}",status="{status}"}} {n}')
        lines += [
            "# HELP painpa_cds_request_seconds CDS service call latency.",
            "# TYPE painpa_cds_request_seconds histogram",
        ]
        for service, counts in sorted(_hist.items()):
            for bound, n in zip(BUCKETS, counts, strict=True):
                lines.append(f'painpa_cds_request_seconds_bucket{{service="{service}",le="{bound}"}} {n}')
            lines.append(f'painpa_cds_request_seconds_bucket{{service="{service}",le="+Inf"}} {_count[service]}')
            lines.append(f'painpa_cds_request_seconds_sum{{service="{service}"}} {_sum[service]:.6f}')
            lines.append(f'painpa_cds_request_seconds_count{{service="{service}"}} {_count[service]}')
    return "\n".join(lines) + "\n"


@bp.get("/metrics")
def metrics():
    return Response(exposition(), mimetype="text/plain", headers={"Content-Type": "text/plain; version=0.0.4"})
