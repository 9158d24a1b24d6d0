"""Audit rows: restricted and retained only as long as configured (CRD 2.2 found-37 "keep logs of
CRD invocations"; CRD security.md "SHALL NOT retain ... except for audit"; standards.md §8.9–8.10).

- No HTTP endpoint of the production app shows an audit row to a caller without an admin session:
  every GET route is crawled anonymously after a hook call with a marker hookInstance.
- Rows hold no token, JWT or patient id in clear.
- ``painpa audit purge`` (the retention job) removes old audit rows and every expired transient
  record (appContext handles, jti records, rate-limit windows), and keeps what is still live.
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from cds_service import applinks, state
from cds_service.auth import replay
from cds_service.auth.replay import first_use
from cds_service.fhir import warm
from cds_service.security import ratelimit
from cds_service.security.tables import RateCounter
from cds_service.store.tables import AppLink, AuditEvent, ChartWrite, SeenJti
from tests.support.hook_requests import SIGN, hook_body
from tests.support.procs import VENV_BIN

TOKEN = "audit-access-token-4e8d1a"


def test_no_endpoint_shows_audit_rows_without_admin_auth(app, caller, fhir):
    marker = "audit-marker-" + os.urandom(6).hex()
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    body["hookInstance"] = marker
    assert caller.post(SIGN, body).status_code == 200
    with state.of(app).db.session() as s:
        row = s.scalar(select(AuditEvent).where(AuditEvent.hook_instance == marker))
        patient_hash = row.patient_hash
    http = app.test_client()
    crawled = 0
    crashed: list[str] = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "x1", rule.rule)
        resp = http.get(url)
        crawled += 1
        if resp.status_code >= 500:
            crashed.append(rule.rule)
        page = resp.get_data().decode("utf-8", "replace")    # the favicon is binary
        assert marker not in page and patient_hash not in page, f"{rule.rule} exposes audit data"
        if rule.rule.startswith("/admin") and rule.endpoint != "admin.login":
            assert resp.status_code in (302, 401, 403), f"{rule.rule} answered {resp.status_code} anonymously"
    assert crawled >= 8
    assert not crashed, f"anonymous GETs answered 5xx (unhandled errors): {crashed}"


def test_audit_rows_hold_no_token_jwt_or_patient_id(app, caller, fhir):
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    assert caller.post(SIGN, body).status_code == 200
    with state.of(app).db.engine.connect() as conn:
        dump = "\n".join(repr(tuple(r)) for r in conn.execute(text("SELECT * FROM cds_audit")))
    assert dump and TOKEN not in dump and "pt-esi-1" not in dump and "eyJ" not in dump


def test_retention_job_purges_old_and_expired_keeps_live(app, settings, monkeypatch):
    # The per-call opportunistic purges (1-2 % of jti and rate-counter writes) would now and then
    # remove the expired rows before the job under test could count them.
    monkeypatch.setattr(replay, "PURGE_PROBABILITY", 0.0)
    monkeypatch.setattr(ratelimit, "PURGE_PROBABILITY", 0.0)
    db = state.of(app).db
    now = datetime.now(UTC)
    with db.session() as s:
        for age in (400, 10):
            s.add(AuditEvent(at=now - timedelta(days=age), service_id=SIGN, latency_ms=1, status=200,
                             order_codes=[], determinations=[], card_uuids=[], incomplete=[]))
    live = applinks.issue(db, {"patient": "p"}, ttl_s=600)
    redeemed = applinks.issue(db, {"patient": "p"}, ttl_s=600)
    applinks.redeem(db, redeemed)
    expired = applinks.issue(db, {"patient": "p"}, ttl_s=-5)
    first_use(db, "iss", "old-jti", int((now - timedelta(hours=2)).timestamp()), 60)
    first_use(db, "iss", "live-jti", int((now + timedelta(minutes=5)).timestamp()), 60)
    ratelimit.hit(db, "iss", now=(now - timedelta(minutes=10)).timestamp())
    ratelimit.hit(db, "iss")
    warm.chart_written(db, "salt", "https://e.example/fhir", "p-old", now - timedelta(minutes=10))
    warm.chart_written(db, "salt", "https://e.example/fhir", "p-live", now)

    env = {**os.environ, "PAINPA_HOME": str(settings.home), "DATABASE_URL": settings.database_url}
    out = subprocess.run([str(VENV_BIN / "painpa"), "audit", "purge", "--days", "365"], env=env,
                         capture_output=True, text=True, check=True)
    assert "removed 1 audit rows" in out.stdout
    assert "2 app_links" in out.stdout and "1 jti" in out.stdout and "1 rate_windows" in out.stdout
    assert "1 chart_writes" in out.stdout
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1
        handles = set(s.scalars(select(AppLink.handle)))
        assert handles == {live} and expired not in handles
        assert set(s.scalars(select(SeenJti.jti))) == {"live-jti"}
        assert s.scalar(select(func.count()).select_from(RateCounter)) == 1
        assert set(s.scalars(select(ChartWrite.chart_hash))) == {warm.chart_hash("salt", "https://e.example/fhir", "p-live")}
