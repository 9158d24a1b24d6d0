"""Audit rows (CRD 2.2 found-37 invocation logs; standards.md §8.9–8.10): one per call, no token,
no JWT, no clear patient id; retention purge through the real ``painpa audit purge`` command."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from cds_service import audit, state
from cds_service.store.tables import AuditEvent
from tests.support.hook_requests import SIGN, full_prefetch, hook_body, load
from tests.support.procs import VENV_BIN


def _rows(app):
    with state.of(app).db.session() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_one_row_per_invocation_with_hashed_patient(app, caller):
    body = hook_body(prefetch=full_prefetch())
    caller.post(SIGN, body)
    caller.post(SIGN, b"not json")
    caller.http.post(f"/cds-services/{SIGN}", json=body)  # no JWT
    rows = _rows(app)
    assert [r.status for r in rows][1:] == [400, 401]
    first = rows[0]
    assert first.hook_instance == body["hookInstance"] and first.hook == "order-sign"
    assert first.patient_hash and len(first.patient_hash) == 64
    assert "http://www.ama-assn.org/go/cpt|64483" in first.order_codes
    dump = json.dumps([{c.name: str(getattr(r, c.name)) for c in AuditEvent.__table__.columns} for r in rows])
    assert "pt-esi-1" not in dump and "Bearer" not in dump


@pytest.mark.parametrize("coding", [1.5, True, "64483", {"code": "64483"}])
def test_an_order_code_of_any_json_shape_is_answered_and_audited(app, caller, coding):
    """Found by the soak fuzz: ``code.coding`` as a number made the audit row's code list raise
    after the answer was built, and the call answered 500 with no audit row."""
    order = load("orders.json")["esi"]
    order["code"] = {"coding": coding}
    resp = caller.post(SIGN, hook_body(orders=[order], prefetch=full_prefetch()))
    assert resp.status_code < 500, resp.get_data(as_text=True)
    assert _rows(app)[-1].status == resp.status_code


def test_patient_hash_depends_on_salt_and_server():
    a = audit.patient_hash("salt", "https://a/fhir", "p1")
    assert a != audit.patient_hash("other", "https://a/fhir", "p1")
    assert a != audit.patient_hash("salt", "https://b/fhir", "p1")
    assert a == audit.patient_hash("salt", "https://a/fhir", "p1")


def test_purge_command_removes_old_rows(app, caller, settings):
    caller.post(SIGN, b"x")
    caller.post(SIGN, b"y")
    db = state.of(app).db
    with db.session() as s:
        oldest = s.scalar(select(AuditEvent.id).order_by(AuditEvent.id))
        s.execute(update(AuditEvent).where(AuditEvent.id == oldest)
                  .values(at=datetime.now(UTC) - timedelta(days=40)))
    env = {**os.environ, "PAINPA_HOME": str(settings.home), "DATABASE_URL": settings.database_url}
    out = subprocess.run([str(VENV_BIN / "painpa"), "audit", "purge", "--days", "30"], env=env,
                         capture_output=True, text=True, check=True)
    assert "removed 1" in out.stdout
    assert len(_rows(app)) == 1
