"""Request ids and what names a call (docs/security.md §2.5): ``X-Request-Id`` taken when sane and
made otherwise, answered on every surface, written on every JSON log line of the request with the
verified ``iss`` and the ``hookInstance``, stored in the audit row; the security lines (JWT refused,
rate limit exceeded, egress refused) name the ``iss``. In process here; the real ``painpa serve``
process is checked in test_request_ids_process.py."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from cds_service import state
from cds_service.security import redaction, request_ids
from cds_service.security.logs import JsonFormatter
from cds_service.store.tables import AuditEvent
from tests.support import jwt as tjwt
from tests.support.hook_requests import ISS, SIGN, full_prefetch, hook_body

TOKEN = "request-id-access-token-3c9d41"
PATIENT = "pt-esi-1"
GENERATED = re.compile(r"[0-9a-f]{32}")


def _post(app, es_key, body, *, path_suffix: str = "", request_id: str | None = None, environ: dict | None = None,
          token: str | None = None):
    path = f"/cds-services/{SIGN}{path_suffix}"
    jwt_ = token or tjwt.sign(es_key, ISS, state.of(app).settings.base_url + path)
    headers = {**tjwt.bearer(jwt_), "Content-Type": "application/json"}
    if request_id is not None:
        headers[request_ids.HEADER] = request_id
    return app.test_client().post(path, data=json.dumps(body), headers=headers, environ_overrides=environ or {})


def _audit_rows(app) -> list[AuditEvent]:
    with state.of(app).db.session() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))


@contextmanager
def json_log_lines(level: int = logging.INFO):
    """The JSON lines the root logger writes meanwhile (the formatter painpa serve uses)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        lines.extend(json.loads(line) for line in out.getvalue().splitlines() if line.strip())


@pytest.mark.parametrize("raw", [
    "0f8fa1a2-3b4c-4d5e-8f90-a1b2c3d4e5f6", "01HZX3V6M2K8Q4R7T9W1Y3Z5A7", "Root=1-67891233-abcdef012345678912345678",
    "lb.7f3a:42_x+y", "r" * 128,
])
def test_a_sane_id_is_kept_as_sent(raw):
    assert request_ids.accept(raw) == raw


@pytest.mark.parametrize("raw", [
    None, "", "a\nb", "a\r\nSet-Cookie: x=1", "x" * 129, "x" * 10_240, "two words", 'quote"d', "tab\tbed",
    "caf\u00e9", "Patient/pt-esi-1", "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl", "\x00\x07",
])
def test_anything_else_is_replaced_by_a_fresh_uuid(raw):
    made = request_ids.accept(raw)
    assert GENERATED.fullmatch(made) and made != request_ids.accept(raw)


def test_a_registered_secret_is_never_adopted_as_an_id():
    # Kept as an id, it would be stored in clear in the audit row while the log masks it.
    redaction.forget_values("registered-secret-value-9a1c")
    assert request_ids.accept("registered-secret-value-9a1c") != "registered-secret-value-9a1c"


def test_every_surface_answers_with_the_callers_id_or_a_new_one(app, es_key):
    http = app.test_client()
    feedback = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted",
                              "outcomeTimestamp": "2026-11-20T15:04:05Z"}]}
    calls = {
        "hook": lambda h: _post(app, es_key, hook_body(prefetch=full_prefetch()), request_id=h),
        "feedback": lambda h: _post(app, es_key, feedback, path_suffix="/feedback", request_id=h),
        "refused hook (401)": lambda h: _post(app, es_key, {}, token="not-a-jwt", request_id=h),
        "discovery": lambda h: http.get("/cds-services", headers=h and {request_ids.HEADER: h}),
        "smart jwks": lambda h: http.get("/.well-known/jwks.json", headers=h and {request_ids.HEADER: h}),
        "smart launch (400)": lambda h: http.get("/smart/launch", headers=h and {request_ids.HEADER: h}),
        "admin login": lambda h: http.get("/admin/login", headers=h and {request_ids.HEADER: h}),
        "admin (redirect)": lambda h: http.get("/admin/", headers=h and {request_ids.HEADER: h}),
        "healthz": lambda h: http.get("/healthz", headers=h and {request_ids.HEADER: h}),
        "readyz": lambda h: http.get("/readyz", headers=h and {request_ids.HEADER: h}),
        "metrics": lambda h: http.get("/metrics", headers=h and {request_ids.HEADER: h}),
        "openapi": lambda h: http.get("/openapi.json", headers=h and {request_ids.HEADER: h}),
        "no such route (404)": lambda h: http.get("/nowhere", headers=h and {request_ids.HEADER: h}),
        "wrong method (405)": lambda h: http.delete("/healthz", headers=h and {request_ids.HEADER: h}),
    }
    made: set[str] = set()
    for name, call in calls.items():
        sent = f"req-{uuid.uuid4().hex[:12]}"
        echoed = call(sent)
        assert echoed.headers.get(request_ids.HEADER) == sent, (name, echoed.status_code, dict(echoed.headers))
        fresh = call(None)
        assert GENERATED.fullmatch(fresh.headers.get(request_ids.HEADER, "")), (name, dict(fresh.headers))
        made.add(fresh.headers[request_ids.HEADER])
    assert len(made) == len(calls)   # one per request, never reused


@pytest.mark.parametrize("hostile", ["a\r\nSet-Cookie: painpa_admin=stolen", "n" * 10_240, "line\nbreak"])
def test_a_hostile_id_is_replaced_in_the_answer_the_logs_and_the_audit_row(app, es_key, fhir, hostile):
    fhir.control(fail=["Procedure"])   # a log line of the call
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    with json_log_lines() as lines:
        # Raw in the WSGI environ: the test client would refuse to send a newline in a header.
        resp = _post(app, es_key, body, environ={"HTTP_X_REQUEST_ID": hostile})
    assert resp.status_code == 200
    made = resp.headers[request_ids.HEADER]
    assert GENERATED.fullmatch(made)
    assert "Set-Cookie" not in resp.headers and resp.headers.getlist(request_ids.HEADER) == [made]
    (row,) = [r for r in _audit_rows(app) if r.hook_instance == body["hookInstance"]]
    assert row.request_id == made
    assert [line for line in lines if line["msg"].startswith("FHIR query")]
    assert {line.get("request_id") for line in lines} == {made}


def test_every_log_line_of_a_call_names_its_id_then_iss_and_hook_instance(app, es_key, fhir):
    fhir.control(fail=["Procedure", "Observation"])   # each failure is a log line of the call
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    sent = f"trace-{uuid.uuid4().hex}"
    with json_log_lines() as lines:
        resp = _post(app, es_key, body, request_id=sent)
    assert resp.status_code == 200 and resp.headers[request_ids.HEADER] == sent
    failures = [line for line in lines if line["msg"].startswith("FHIR query")]
    assert failures, lines
    assert lines and all(line.get("request_id") == sent for line in lines), lines
    for line in failures:
        assert line["iss"] == ISS and line["hookInstance"] == body["hookInstance"]
    text = json.dumps(lines)
    assert TOKEN not in text and PATIENT not in text
    (row,) = [r for r in _audit_rows(app) if r.hook_instance == body["hookInstance"]]
    assert row.request_id == sent and row.iss == ISS


def test_lines_outside_a_request_carry_no_request_fields(app, es_key):
    _post(app, es_key, hook_body(prefetch=full_prefetch()))
    with json_log_lines() as lines:
        logging.getLogger("cds_service.test").warning("between requests")
    (line,) = lines
    assert not {"request_id", "iss", "hookInstance"} & set(line)


def test_jwt_refused_line_names_the_claimed_iss_as_unverified(app, es_key):
    forged = tjwt.sign(tjwt.make_key("ES384"), ISS, state.of(app).settings.base_url + f"/cds-services/{SIGN}")
    with json_log_lines() as lines:
        resp = _post(app, es_key, {}, token=forged, request_id="refused-1")
    assert resp.status_code == 401
    (line,) = [line for line in lines if line["msg"].startswith("JWT refused")]
    assert line["iss"] == ISS and line["iss_verified"] is False and line["request_id"] == "refused-1"
    assert forged not in json.dumps(lines) and forged.split(".")[0] not in json.dumps(lines)
    with json_log_lines() as lines:
        _post(app, es_key, {}, token="garbage", request_id="refused-2")
    (line,) = [line for line in lines if line["msg"].startswith("JWT refused")]
    assert "iss" not in line and line["request_id"] == "refused-2"


def test_egress_refused_lines_name_the_iss(app, es_key, fake_dns):
    # A registered base whose name now resolves into a private network: the token is not sent.
    fake_dns["ehr.example.org"] = ["10.20.30.40"]
    body = hook_body(fhir_server="https://ehr.example.org/fhir", token=TOKEN)
    with json_log_lines() as lines:
        refused = _post(app, es_key, body, request_id="egress-1")
    assert refused.status_code in (400, 422), refused.get_data(as_text=True)
    (line,) = [line for line in lines if line["msg"].startswith("egress refused")]
    assert line["iss"] == ISS and line["hookInstance"] == body["hookInstance"] and line["request_id"] == "egress-1"
    unregistered = hook_body(fhir_server="https://elsewhere.example/fhir", token=TOKEN)
    with json_log_lines() as lines:
        assert _post(app, es_key, unregistered, request_id="egress-2").status_code == 400
    (line,) = [line for line in lines if line["msg"].startswith("egress refused")]
    assert line["iss"] == ISS and line["request_id"] == "egress-2"
    assert TOKEN not in json.dumps(lines)
