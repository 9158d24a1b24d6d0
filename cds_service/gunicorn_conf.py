"""gunicorn settings for ``painpa serve`` (the process model of docs/deploy.md).

One place for the process model so that ``painpa serve`` (also what deploy/Containerfile runs) and
the bench's bare-Flask baseline run under the same settings (docs/deploy.md, "Capacity").

Why these values (measured with ``make bench`` on 2 cores, bench/RESULTS.md):

- ``gthread`` workers: a hook call is CPU-bound (JSON, policy, render) except while it waits on the
  EHR's FHIR server; threads cover that wait without an event-loop monkey-patch. One worker process
  per core (``PAINPA_WORKERS``, default 2), ``PAINPA_THREADS`` threads each (default 8).
- Workers are stateless: everything shared (database with the jti replay records, JWKS, order-select →
  order-sign warm cache) lives in PostgreSQL / Redis (cds_service/shared), so any worker on any host
  may answer any call and workers can be recycled (``max_requests`` with jitter bounds slow leaks).
- ``worker_tmp_dir=/dev/shm``: the heartbeat file on tmpfs, so a slow disk (container overlay)
  cannot make the arbiter kill healthy workers.
- Garbage collection between requests, not during them. ``gc.freeze()`` once a worker has built its
  app: the objects loaded at start-up (policy data, value sets, modules) leave the collector's
  generations, so that no full collection re-scans them every few calls (those collections made
  the p95 several times the p50: bench/RESULTS.md, "What profiling found, and what was fixed").
  Then :func:`post_request` runs, after each request, the collection that CPython's
  default thresholds (700/10/10) call for, holding the worker's CPU slot (cds_service/cpu.py) so
  that no request is half-way through its work; the automatic collector only remains as a
  backstop for a single request that builds over a million objects. A request's objects are freed
  by reference counting when it ends, so the collector only ever scans what survives. During a
  request it would re-scan the parsed patient history over and over, in long pauses inside the
  request; raising its thresholds only makes the pauses rarer and longer. Collecting between
  requests shortened the tail at 500 and at 5,000 resources, and the median at 5,000, in
  ``bench/profile.py``'s set-up (bench/RESULTS.md, "Garbage collection between requests").
- No control socket (``gunicornc``): painpa does not use it, and gunicorn's default path is the
  same for every instance a user runs on a host (:func:`options`).
- ``timeout`` 30 s sits well above the FHIR deadline (``PAINPA_FHIR_DEADLINE``, 3 s) and below
  typical load-balancer idle timeouts; ``keepalive`` 5 s lets an EHR reuse its connection.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

from gunicorn.app.base import BaseApplication

from cds_service import cpu
from cds_service.config import ConfigError

DEFAULT_WORKERS = 2
DEFAULT_THREADS = 8
GC_THRESHOLDS = (700, 10, 10)   # CPython's defaults, applied between requests (post_request)
GC_BACKSTOP = 1_000_000         # young objects within one request before the collector runs anyway
SHM = "/dev/shm"  # noqa: S108 - gunicorn's heartbeat files (worker_tmp_dir), not application data


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1")
    return value


def post_worker_init(_worker) -> None:
    """gunicorn hook, after the worker loaded the app: keep start-up objects out of GC scans and
    collect only between requests (see the module docstring)."""
    gc.freeze()
    gc.set_threshold(GC_BACKSTOP, *GC_THRESHOLDS[1:])


def post_request(_worker, _req, _environ, _resp) -> None:
    """gunicorn hook, after each request: the collection the default thresholds call for, if any
    (the oldest generation over its threshold; without CPython's extra condition on full
    collections, which only matters for heaps far larger than a worker's)."""
    counts = gc.get_count()
    generation = next((g for g in (2, 1, 0) if counts[g] > GC_THRESHOLDS[g]), None)
    if generation is not None:
        with cpu.section():   # no request is half-way through its CPU work meanwhile
            gc.collect(generation)


def options(*, host: str = "127.0.0.1", port: int = 8080, workers: int | None = None,
            env: dict[str, str] | None = None) -> dict:
    """The gunicorn settings as a dict (keys are gunicorn setting names)."""
    env = dict(os.environ if env is None else env)
    tmp = SHM if os.path.isdir(SHM) and os.access(SHM, os.W_OK) else None
    return {
        "bind": f"{host}:{port}",
        "workers": workers or _int(env, "PAINPA_WORKERS", DEFAULT_WORKERS),
        "worker_class": "gthread",
        "threads": _int(env, "PAINPA_THREADS", DEFAULT_THREADS),
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "max_requests": _int(env, "PAINPA_MAX_REQUESTS", 20000),
        "max_requests_jitter": 2000,
        "worker_tmp_dir": tmp,
        "accesslog": None,  # the audit table is the access record; an access log would hold patient URLs
        "errorlog": "-",
        "loglevel": "info",
        "limit_request_field_size": 16384,
        "post_worker_init": post_worker_init,
        "post_request": post_request,
        # gunicorn's control socket (gunicornc) is off: painpa never uses it, and its default path is
        # one per user ($XDG_RUNTIME_DIR or ~/.gunicorn), so every instance on a host would bind the
        # same socket, each start taking it over from the last and each stop deleting it for all.
        "control_socket_disable": True,
    }


class Application(BaseApplication):
    """gunicorn running the WSGI app that ``load`` builds (in each worker), with these ``options``:
    ``painpa serve`` and the bench's bare-Flask baseline both run through it."""

    def __init__(self, load: Callable[[], object], options: dict) -> None:
        self._load = load
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return self._load()
