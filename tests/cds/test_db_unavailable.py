"""A busy or unavailable database answers a hook call with 503 + Retry-After + OperationOutcome
(``transient``), never 500, and never lets a token through (CDS Hooks 2.0 §Calling a CDS Service:
errors as HTTP status; CC-16 replay protection holds across the outage).

SQLite: another connection holds ``BEGIN IMMEDIATE`` (what an admin import's transaction does) while
the call arrives; the busy timeout is set low so that the wait is short. PostgreSQL: the service's
database stops accepting connections and its sessions are terminated, as when the server goes down.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, func, make_url, select, text

from cds_service import state
from cds_service.store.tables import AuditEvent, SeenJti
from tests.support import jwt as tjwt
from tests.support.busy_database import BUSY_MS, busy_app, sqlite_path, write_lock
from tests.support.cds_caller import Caller
from tests.support.hook_requests import ISS, SIGN, full_prefetch, hook_body


@pytest.fixture
def app(settings, es_key):
    app = busy_app(settings, es_key)
    yield app
    state.of(app).db.dispose()


def _post(app, token: str, body: dict | None = None, suffix: str = ""):
    return Caller(app, None).post(SIGN, body or _body(), token=token, path_suffix=suffix)


def _body() -> dict:
    return hook_body(prefetch=full_prefetch())


def _token(app, key, suffix: str = "", jti: str | None = None) -> str:
    base = state.of(app).settings.base_url
    return tjwt.sign(key, ISS, f"{base}/cds-services/{SIGN}{suffix}", jti=jti or uuid.uuid4().hex)


def _assert_503(resp) -> None:
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.headers["Retry-After"].isdigit() and int(resp.headers["Retry-After"]) >= 1
    assert resp.mimetype == "application/fhir+json"
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    (issue,) = outcome["issue"]
    assert issue["code"] == "transient"
    assert "database is busy or unavailable" in issue["diagnostics"]
    raw = resp.get_data(as_text=True)
    for leak in ("SQL", "INSERT", "cds_seen_jti", "parameters", "sqlalchemy", "Traceback", "locked"):
        assert leak not in raw


def _count(app, table) -> int:
    with state.of(app).db.session() as s:
        return s.scalar(select(func.count()).select_from(table))


def _served_503(app) -> int:
    """painpa_cds_requests_total for order-sign answered 503, from /metrics (process-wide counters)."""
    line = f'painpa_cds_requests_total{{service="{SIGN}",status="503"}} '
    exposition = app.test_client().get("/metrics").get_data(as_text=True)
    return next((int(float(row[len(line):])) for row in exposition.splitlines() if row.startswith(line)), 0)


def test_hook_call_behind_sqlite_write_lock_answers_503_not_500(app, es_key, caplog):
    jti = uuid.uuid4().hex
    body = _body()
    caplog.set_level(logging.INFO)
    served_503 = _served_503(app)
    with write_lock(sqlite_path(app)):
        resp = _post(app, _token(app, es_key, jti=jti), body)
    _assert_503(resp)
    # One warning line naming the condition; neither the jti nor anything of the request in the log.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "503" in r.getMessage()]
    assert len(warnings) == 1 and "SQLITE_BUSY" in warnings[0].getMessage()
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert jti not in logged and body["hookInstance"] not in logged and "pt-esi-1" not in logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # The 503 is counted where operators look (/metrics), under the service that was called.
    assert _served_503(app) == served_503 + 1
    # The lock is gone: the same kind of call answers, and nothing of the failed call was stored.
    assert _count(app, AuditEvent) == 0 and _count(app, SeenJti) == 0
    after = _post(app, _token(app, es_key))
    assert after.status_code == 200 and "cards" in after.get_json()


def test_feedback_behind_sqlite_write_lock_answers_503(app, es_key):
    item = {"card": "9f0a7e6c-5d4b-4a3c-8b2a-1c0d9e8f7a6b", "outcome": "overridden",
            "outcomeTimestamp": "2026-11-20T15:04:05Z"}
    with write_lock(sqlite_path(app)):
        resp = _post(app, _token(app, es_key, "/feedback"), {"feedback": [item]}, "/feedback")
    _assert_503(resp)
    assert _post(app, _token(app, es_key, "/feedback"), {"feedback": [item]}, "/feedback").status_code == 200


def test_replayed_token_refused_after_the_database_recovers(app, es_key):
    """CC-16 across an outage: a token used before the outage stays used; a call during the outage is
    never answered as authenticated; the jti check never fails open."""
    used = _token(app, es_key)
    assert _post(app, used).status_code == 200
    during = _token(app, es_key)
    with write_lock(sqlite_path(app)):
        replay_during = _post(app, used)
        fresh_during = _post(app, during)
    _assert_503(replay_during)
    _assert_503(fresh_during)
    assert _post(app, used).status_code == 401  # replay still refused once the database answers
    # The token of the failed call was never accepted, so its jti was not recorded: it is accepted
    # once now, then refused as a replay.
    assert [_post(app, during).status_code, _post(app, during).status_code] == [200, 401]


def test_database_write_failing_inside_the_handler_is_503_too(settings, es_key, tmp_path):
    """With Redis holding jti and rate counters, the first database write of a call is the SMART
    link handle inside the handler: it must also answer 503, not the handler's catch-all 500."""
    from tests.support.redis_server import redis_server

    with redis_server(tmp_path / "redis") as redis_url:
        app = busy_app(settings, es_key, redis_url=redis_url)
        try:
            ok = _post(app, _token(app, es_key))
            assert ok.status_code == 200
            assert "smart" in json.dumps(ok.get_json())  # the card carries a SMART link: a handle is written
            with write_lock(sqlite_path(app)):
                resp = _post(app, _token(app, es_key))
            _assert_503(resp)
        finally:
            state.of(app).db.dispose()


def test_a_genuine_database_bug_is_still_a_500(app, es_key):
    """503 is for a busy or unreachable database only: a missing table is a defect, and says so."""
    with state.of(app).db.begin() as conn:
        conn.execute(text("DROP TABLE cds_seen_jti"))
    resp = _post(app, _token(app, es_key))
    assert resp.status_code == 500
    assert "Retry-After" not in resp.headers
    assert resp.get_json()["issue"][0]["code"] == "exception"
    assert "cds_seen_jti" not in resp.get_data(as_text=True)


@pytest.mark.postgres
def test_postgresql_down_answers_503_and_replay_still_refused(settings, es_key, postgres_url):
    name = f"painpa_down_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    app = busy_app(settings, es_key, database_url=url)
    try:
        used = _token(app, es_key)
        assert _post(app, used).status_code == 200
        with admin.connect() as conn:  # the server stops serving this database and drops its sessions
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                         {"d": name})
        during = _token(app, es_key)
        _assert_503(_post(app, during))
        _assert_503(_post(app, used))
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert _post(app, used).status_code == 401
        assert [_post(app, during).status_code, _post(app, during).status_code] == [200, 401]
    finally:
        state.of(app).db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_postgresql_unreachable_port_answers_503(settings, es_key):
    """DATABASE_URL names a PostgreSQL that is not listening: refused at connect, answered 503."""
    from cds_service.store.base import Database
    from tests.support.procs import free_port

    app = busy_app(settings, es_key)
    try:
        # The app started on SQLite; its database is then swapped for one whose server is gone
        # (create_app itself needs a database to create tables in).
        state.of(app).db.dispose()
        gone = Database(f"postgresql+psycopg://painpa@127.0.0.1:{free_port()}/painpa", busy_timeout_ms=BUSY_MS)
        state.install(app, replace(state.of(app), db=gone))
        _assert_503(_post(app, _token(app, es_key)))
    finally:
        state.of(app).db.dispose()


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "9999999"])
def test_busy_timeout_setting_refuses_nonsense(raw, tmp_path):
    from cds_service.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="PAINPA_DB_BUSY_TIMEOUT_MS"):
        Settings.from_env(env={"PAINPA_DB_BUSY_TIMEOUT_MS": raw}, home=tmp_path)


def test_busy_timeout_setting_reaches_every_sqlite_connection(app, tmp_path):
    from cds_service.config import Settings

    assert Settings.from_env(env={"PAINPA_DB_BUSY_TIMEOUT_MS": "250"}, home=tmp_path).db_busy_timeout_ms == 250
    assert Settings.from_env(env={}, home=tmp_path).db_busy_timeout_ms == 5000
    with state.of(app).db.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_MS
