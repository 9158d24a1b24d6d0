"""Health endpoints of the contract: ``/healthz`` (process up) and ``/readyz`` (ready for traffic).
Kept free of patient data so that load balancers may call them unauthenticated.

Ready means the node can do what every hook call does: read the database and write to it (each
answered call writes its audit row, and a call whose row cannot be written is answered 503). So
``/readyz`` makes a real write, one upsert of a per-host counter row, at most every
:data:`WRITE_PROBE_INTERVAL_S` per process: a full disk, a read-only database or a lost write lock
takes the node out of the load balancer instead of letting it answer 503 to every call.
"""

from __future__ import annotations

import socket
import threading
import time

from flask import Blueprint, jsonify
from sqlalchemy import text

from cds_service import state
from cds_service.security.ratelimit import count_in_db, counter_key, fixed_window
from cds_service.store.base import Database

WRITE_PROBE_INTERVAL_S = 5.0
FAILED_PROBE_INTERVAL_S = 1.0   # a failure is re-tried sooner: the node rejoins soon after recovery
bp = Blueprint("health", __name__)
_probes: dict[int, tuple[float, str]] = {}   # per database: (when, outcome) of the last write probe
_lock = threading.Lock()


def _outcome(exc: Exception) -> str:
    return f"error: {type(exc).__name__}"


def write_probe(db: Database, now: float | None = None) -> str:
    """"ok" when a row can be written now (or was within the interval); else the error's class."""
    now = time.monotonic() if now is None else now
    with _lock:
        last = _probes.get(id(db))
        if last is not None and now - last[0] < (WRITE_PROBE_INTERVAL_S if last[1] == "ok" else FAILED_PROBE_INTERVAL_S):
            return last[1]
    window, expires, _ = fixed_window(time.time(), 60)
    try:
        count_in_db(db, counter_key(socket.gethostname(), window, prefix="ready:"), expires)
        result = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        result = _outcome(exc)
    with _lock:
        _probes[id(db)] = (now, result)
    return result


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    db = state.current().db
    checks: dict[str, str] = {}
    try:
        with db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        checks["database"] = _outcome(exc)
    checks["database_write"] = write_probe(db) if checks["database"] == "ok" else "not tried"
    checks["policies"] = "ok"  # loaded and validated at start-up (state.build): an app without them never starts
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), (200 if ready else 503)
