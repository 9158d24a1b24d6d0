"""Refusals and dependency failures are audited and counted (cds_service/metrics.py): a 429 (or a
413) is one audit row and one ``painpa_cds_requests_total{status="429"}``; a 429 whose row cannot be
written is answered as any call whose row cannot be written (503 for a busy database, 500 for
another error), never 429 without its row; ``painpa_dependency_errors_total`` counts the database
answered 503 for, failed Redis operations and failed FHIR queries."""

from __future__ import annotations

import json
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from cds_service import audit, state
from cds_service.security import request_ids
from cds_service.store.tables import AuditEvent
from tests.support import jwt as tjwt
from tests.support.busy_database import busy_app, sqlite_path, write_lock
from tests.support.hook_requests import ISS, SIGN, full_prefetch, hook_body
from tests.support.procs import free_port


def _samples(app) -> dict[tuple, float]:
    text_ = app.test_client().get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text_) for s in family.samples}


def _calls(status: int) -> tuple:
    return ("painpa_cds_requests_total", (("service", SIGN), ("status", str(status))))


def _dependency(name: str) -> tuple:
    return ("painpa_dependency_errors_total", (("dependency", name),))


def _delta(before: dict, after: dict, key: tuple) -> float:
    return after.get(key, 0) - before.get(key, 0)



@pytest.fixture
def limited(settings, es_key):
    app = busy_app(settings, es_key, rate_limit_per_minute=1)
    yield app
    state.of(app).db.dispose()


def _post(app, es_key, body: dict | None = None, request_id: str | None = None):
    path = f"/cds-services/{SIGN}"
    headers = {**tjwt.bearer(tjwt.sign(es_key, ISS, state.of(app).settings.base_url + path)),
               "Content-Type": "application/json", **({request_ids.HEADER: request_id} if request_id else {})}
    return app.test_client().post(path, data=json.dumps(body or hook_body(prefetch=full_prefetch())), headers=headers)


def _until_refused(app, es_key, request_id: str):
    """Calls until one is not a 200 (a budget of 1 per minute: the second, or the third when the
    minute turned between the first two)."""
    for _ in range(3):
        resp = _post(app, es_key, request_id=request_id)
        if resp.status_code != 200:
            return resp
    raise AssertionError("never throttled")


def _rows(app) -> list[AuditEvent]:
    with state.of(app).db.session() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))




def test_a_429_is_audited_and_counted(limited, es_key):
    before = _samples(limited)
    refused = _until_refused(limited, es_key, "throttled-1")
    assert refused.status_code == 429 and refused.headers["Retry-After"].isdigit()
    assert refused.headers[request_ids.HEADER] == "throttled-1"
    (row,) = [r for r in _rows(limited) if r.status == 429]
    # The limit runs before the body is read: no hookInstance, hook or patient hash.
    assert (row.service_id, row.iss, row.request_id) == (SIGN, ISS, "throttled-1")
    assert row.hook_instance is None and row.hook is None and row.patient_hash is None
    after = _samples(limited)
    assert _delta(before, after, _calls(429)) == 1


def test_a_429_whose_row_cannot_be_written_is_503_like_any_call(limited, es_key, monkeypatch, caplog):
    real = audit.record

    def locked_for_429(db, **row):
        if row["status"] != 429:
            return real(db, **row)
        with write_lock(sqlite_path(limited)):   # the row waits out the busy timeout
            return real(db, **row)

    monkeypatch.setattr(audit, "record", locked_for_429)
    before = _samples(limited)
    refused = _until_refused(limited, es_key, "throttled-2")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
    assert refused.get_json()["issue"][0]["code"] == "transient"
    assert refused.headers[request_ids.HEADER] == "throttled-2"
    assert not [r for r in _rows(limited) if r.status == 429]
    after = _samples(limited)
    assert _delta(before, after, _calls(503)) == 1 and _delta(before, after, _calls(429)) == 0
    assert _delta(before, after, _dependency("database")) == 1
    (line,) = [r for r in caplog.records if r.getMessage().startswith("audit row not written")]
    assert "hookInstance (not read)" in line.getMessage() and "would have answered 429" in line.getMessage()
    # The limiter counted the call: once the row can be written, the client is still refused.
    monkeypatch.setattr(audit, "record", real)
    assert _post(limited, es_key).status_code == 429


def test_a_429_whose_row_is_refused_by_a_defect_is_500(limited, es_key):
    with state.of(limited).db.begin() as conn:
        conn.execute(text("CREATE TRIGGER refuse_429 BEFORE INSERT ON cds_audit WHEN NEW.status = 429 "
                          "BEGIN SELECT RAISE(ABORT, 'refused'); END"))
    before = _samples(limited)
    refused = _until_refused(limited, es_key, "throttled-3")
    assert refused.status_code == 500 and "Retry-After" not in refused.headers
    assert _delta(before, _samples(limited), _calls(500)) == 1


def test_database_unavailable_is_counted(settings, es_key):
    app = busy_app(settings, es_key)
    try:
        before = _samples(app)
        with write_lock(sqlite_path(app)):
            assert _post(app, es_key).status_code == 503
        after = _samples(app)
        assert _delta(before, after, _dependency("database")) == 1 and _delta(before, after, _calls(503)) == 1
    finally:
        state.of(app).db.dispose()


def test_fhir_failures_are_counted(app, es_key, fhir):
    fhir.control(fail=["Procedure", "Observation"])
    before = _samples(app)
    body = hook_body(fhir_server=fhir.base, token=f"tok-{uuid.uuid4().hex}")
    assert _post(app, es_key, body).status_code == 200
    assert _delta(before, _samples(app), _dependency("fhir")) >= 2
    fhir.control()
    before = _samples(app)
    assert _post(app, es_key, hook_body(fhir_server=fhir.base, token=f"tok-{uuid.uuid4().hex}")).status_code == 200
    assert _delta(before, _samples(app), _dependency("fhir")) == 0


def test_redis_unavailable_is_counted_and_the_call_still_answers(settings, es_key):
    # Nothing listens there: the connection is refused, the rate limit counts in the database.
    app = busy_app(settings, es_key, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    try:
        before = _samples(app)
        assert _post(app, es_key).status_code == 200
        assert _delta(before, _samples(app), _dependency("redis")) >= 1
    finally:
        state.of(app).db.dispose()


def test_every_dependency_series_exists_from_the_start(app):
    samples = _samples(app)
    assert all(_dependency(name) in samples for name in ("database", "redis", "fhir"))


def test_a_413_is_audited_and_counted(settings, es_key):
    app = busy_app(settings, es_key, max_request_bytes=2048)
    try:
        before = _samples(app)
        resp = _post(app, es_key, hook_body(prefetch=full_prefetch()), request_id="too-big-1")
        assert resp.status_code == 413 and resp.headers[request_ids.HEADER] == "too-big-1"
        (row,) = _rows(app)
        assert (row.status, row.iss, row.request_id, row.hook_instance) == (413, ISS, "too-big-1", None)
        assert _delta(before, _samples(app), _calls(413)) == 1
    finally:
        state.of(app).db.dispose()
