"""The real ``painpa serve`` (gunicorn, 2 workers): every JSON line a hook call writes to stderr
carries its ``X-Request-Id`` (and, once known, the verified ``iss`` and the ``hookInstance``), the
audit row stores the same id, a hostile id is replaced, a 429 is audited and counted, FHIR failures
are counted, and ``/metrics`` wants its token (docs/security.md §2.5)."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import jwt as tjwt
from tests.support.hook_requests import hook_body
from tests.support.serve_harness import ACCESS_TOKEN, ISS, SIGN, hostile_fhir, painpa_cli, painpa_service

METRICS_TOKEN = "scrape-" + "Rq8w" * 8
THROTTLED = "https://throttled-ehr.example/cds"   # a second client, so that only it spends its budget
RATE_LIMIT = 20
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    env = {"PAINPA_RATE_LIMIT": str(RATE_LIMIT), "PAINPA_METRICS_TOKEN": METRICS_TOKEN, "PAINPA_FHIR_DEADLINE": "1.5"}
    with hostile_fhir() as fhir, painpa_service([fhir.base], home=tmp_path_factory.mktemp("request-ids"),
                                                env=env) as svc:
        added = painpa_cli(svc.extra_env, "clients", "add", "--iss", THROTTLED, "--jwks-file",
                           str(svc.home / "client-jwks.json"), "--fhir-base", fhir.base)
        assert added.returncode == 0, added.stderr
        yield fhir, svc


def _lines_during(svc, call: Callable[[], requests.Response]) -> tuple[requests.Response, list[dict]]:
    """The response, and the lines the service wrote while answering it (stderr is line-buffered and
    flushed per record: a line is in the file before its response is sent)."""
    start = svc.log_path.stat().st_size
    resp = call()
    with open(svc.log_path, "rb") as log:
        log.seek(start)
        new = log.read().decode(errors="replace")
    return resp, [json.loads(line) for line in new.splitlines() if line.strip()]


def _audit(svc, where: str, value: str) -> list[dict]:
    with closing(sqlite3.connect(f"file:{svc.home / 'painpa.db'}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(f"SELECT * FROM cds_audit WHERE {where} = ?", (value,))]  # noqa: S608


def _scrape(svc) -> dict[tuple, float]:
    resp = requests.get(f"{svc.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5)
    assert resp.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def test_every_line_of_a_call_names_its_id_and_the_audit_row_stores_it(served):
    fhir, svc = served
    fhir.mode("status500")
    token = f"{ACCESS_TOKEN}-{uuid.uuid4().hex}"
    body = hook_body(fhir_server=fhir.base, token=token)
    sent = f"ehr-{uuid.uuid4().hex}"
    fhir_errors = ("painpa_dependency_errors_total", (("dependency", "fhir"),))
    before = _scrape(svc)
    resp, lines = _lines_during(svc, lambda: svc.post(SIGN, body, headers={"X-Request-Id": sent}))
    after = _scrape(svc)
    fhir.mode("ok")
    assert resp.status_code == 200 and resp.headers["X-Request-Id"] == sent
    failures = [line for line in lines if line["msg"].startswith("FHIR query")]
    assert failures, lines
    assert all(line.get("request_id") == sent for line in lines), [ln for ln in lines if ln.get("request_id") != sent]
    assert all(line["iss"] == ISS and line["hookInstance"] == body["hookInstance"] for line in failures)
    text = json.dumps(lines)
    assert token not in text and "pt-esi-1" not in text
    (row,) = _audit(svc, "hook_instance", body["hookInstance"])
    assert row["request_id"] == sent and row["status"] == 200 and row["iss"] == ISS
    assert after[fhir_errors] - before[fhir_errors] >= len(failures) > 0


def test_a_hostile_id_is_replaced_and_a_refused_jwt_names_the_claimed_iss(served):
    _, svc = served
    forged = tjwt.sign(tjwt.make_key("ES384"), ISS, svc.url(SIGN))
    for hostile in ("h" * 10_240, 'quoted" and spaced', "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJ4In0.c2ln"):
        resp, lines = _lines_during(svc, lambda h=hostile: svc.post(SIGN, {}, token=forged, headers={"X-Request-Id": h}))
        assert resp.status_code == 401
        made = resp.headers["X-Request-Id"]
        assert GENERATED.fullmatch(made)
        (refused,) = [line for line in lines if line["msg"].startswith("JWT refused")]
        assert refused["request_id"] == made and refused["iss"] == ISS and refused["iss_verified"] is False
        assert hostile[:40] not in json.dumps(lines) and forged not in json.dumps(lines)
        (row,) = _audit(svc, "request_id", made)
        assert row["status"] == 401 and row["iss"] is None


def test_a_429_is_audited_named_and_counted(served):
    _, svc = served
    calls = ("painpa_cds_requests_total", (("service", SIGN), ("status", "429")))
    before = _scrape(svc)
    sent = f"throttle-{uuid.uuid4().hex}"
    for _ in range(2 * RATE_LIMIT + 2):   # the budget, and once more if the minute turns meanwhile
        resp, lines = _lines_during(svc, lambda: svc.post(SIGN, {}, token=tjwt.sign(svc.key, THROTTLED, svc.url(SIGN)),
                                                          headers={"X-Request-Id": sent}))
        if resp.status_code == 429:
            break
        assert resp.status_code == 400   # an empty body: cheap, and it spends the budget all the same
    assert resp.status_code == 429 and resp.headers["X-Request-Id"] == sent and resp.headers["Retry-After"]
    (line,) = [line for line in lines if line["msg"].startswith("rate limit exceeded")]
    assert line["iss"] == THROTTLED and line["request_id"] == sent
    (row,) = [r for r in _audit(svc, "request_id", sent) if r["status"] == 429]
    assert (row["service_id"], row["iss"], row["hook_instance"]) == (SIGN, THROTTLED, None)
    assert _scrape(svc)[calls] - before.get(calls, 0) == 1


def test_metrics_want_the_token_even_from_loopback(served):
    _, svc = served
    for headers in ({}, {"Authorization": "Bearer wrong-token-of-decent-length-0000"}):
        refused = requests.get(f"{svc.base}/metrics", headers=headers, timeout=5)
        assert refused.status_code == 401 and refused.json()["resourceType"] == "OperationOutcome"
        assert GENERATED.fullmatch(refused.headers["X-Request-Id"])
    assert ("painpa_dependency_errors_total", (("dependency", "database"),)) in _scrape(svc)
