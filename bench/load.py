"""A small concurrent HTTP load client: threads, each with its own ``requests.Session`` (keep-alive),
bounded by a request count and a wall-clock budget. Loopback only.

Request bodies are serialised once; each request only swaps in a fresh ``hookInstance`` (and, for
FHIR cases, a fresh access token) by a bytes replace, and carries a JWT signed before the clock
starts, so the client spends as little CPU as possible on the machine it shares with the server.
The same bodies and the same client drive painpa and the bare-Flask baseline.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests

HOOK_INSTANCE = b"00000000-0000-4000-8000-hookinstance"
FHIR_TOKEN = b"bench-token-placeholder-0000000000000000"


@dataclass
class Run:
    """What one phase measured."""

    latencies: list[float] = field(default_factory=list)  # seconds, successful calls only
    statuses: Counter = field(default_factory=Counter)
    wall_s: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.statuses.values())

    @property
    def throughput(self) -> float:
        return self.count / self.wall_s if self.wall_s else 0.0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def bodies(template: bytes, n: int, tokens: list[str] | None = None) -> list[bytes]:
    """``n`` copies of ``template`` with a fresh hookInstance each (and the given access tokens)."""
    out = []
    for i in range(n):
        body = template.replace(HOOK_INSTANCE, str(uuid.uuid4()).encode())
        if tokens is not None:
            body = body.replace(FHIR_TOKEN, tokens[i].encode())
        out.append(body)
    return out


def drive(url: str, payloads: list[bytes], auth_headers: list[str | None], *, concurrency: int,
          max_seconds: float, timeout: float = 30.0) -> Run:
    """POST ``payloads`` (with matching Authorization headers) with ``concurrency`` threads until all
    are sent or ``max_seconds`` has passed."""
    run = Run()
    lock = threading.Lock()
    counter = itertools.count()
    stop_at = time.perf_counter() + max_seconds

    def worker() -> None:
        session = requests.Session()
        session.trust_env = False
        local_lat: list[float] = []
        local_status: Counter = Counter()
        while time.perf_counter() < stop_at:
            i = next(counter)
            if i >= len(payloads):
                break
            headers = {"Content-Type": "application/json"}
            if auth_headers[i]:
                headers["Authorization"] = auth_headers[i]
            started = time.perf_counter()
            try:
                resp = session.post(url, data=payloads[i], headers=headers, timeout=timeout)
                status = resp.status_code
            except requests.RequestException:
                status = 599
            elapsed = time.perf_counter() - started
            local_status[status] += 1
            if status == 200:
                local_lat.append(elapsed)
        session.close()
        with lock:
            run.latencies.extend(local_lat)
            run.statuses.update(local_status)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.wall_s = time.perf_counter() - started
    run.latencies.sort()
    return run
