"""Health endpoints of the contract: ``/healthz`` (process up) and ``/readyz`` (database and policy
data loaded). Kept free of patient data so that load balancers may call them unauthenticated."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from cds_service import state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks: dict[str, str] = {}
    try:
        with state.current().db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        checks["database"] = f"error: {type(exc).__name__}"
    checks["policies"] = "ok"  # loaded and validated at start-up (state.build): an app without them never starts
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), (200 if ready else 503)
