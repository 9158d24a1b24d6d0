"""Operational surfaces: /healthz, /readyz, /metrics and who may read it, CORS (CC-54), ``painpa evaluate``."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cds_service import metrics, state
from cds_service.app import create_app
from cds_service.config import ConfigError, Settings
from tests.support.hook_requests import SIGN, full_prefetch, hook_body
from tests.support.procs import VENV_BIN


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["policies"] == "ok"


def _samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}   # the test client's default, said out loud: /metrics is loopback-only
REMOTE = {"REMOTE_ADDR": "10.1.2.3"}        # through the load balancer
SCRAPE_TOKEN = "scrape-" + "k7Qz" * 8


def test_metrics_expose_counts_and_histogram(caller, client):
    before = _samples(client.get("/metrics", environ_base=LOOPBACK).get_data(as_text=True))
    caller.post(SIGN, {})
    resp = client.get("/metrics", environ_base=LOOPBACK)
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    after = _samples(resp.get_data(as_text=True))
    calls = ("painpa_cds_requests_total", (("service", SIGN), ("status", "400")))
    slowest = ("painpa_cds_request_seconds_bucket", (("le", "+Inf"), ("service", SIGN)))
    assert after[calls] == before.get(calls, 0) + 1
    assert after[slowest] == before.get(slowest, 0) + 1
    assert not [name for name, _ in after if name.endswith("_created")]   # counts and histogram only


def _refused(resp) -> None:
    assert resp.status_code == 401, resp.status_code
    assert resp.is_json and resp.get_json()["resourceType"] == "OperationOutcome"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "painpa_cds_requests" not in resp.get_data(as_text=True)


def test_metrics_with_a_token_answer_only_its_bearer_from_anywhere(app):
    http = create_app(replace(state.of(app).settings, metrics_token=SCRAPE_TOKEN)).test_client()
    _refused(http.get("/metrics", environ_base=REMOTE))
    _refused(http.get("/metrics", environ_base=REMOTE, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}x"}))
    _refused(http.get("/metrics", environ_base=REMOTE, headers={"Authorization": f"Basic {SCRAPE_TOKEN}"}))
    _refused(http.get("/metrics", environ_base=LOOPBACK))   # once set, the token is needed from loopback too
    for scheme in ("Bearer", "bearer"):
        ok = http.get("/metrics", environ_base=REMOTE, headers={"Authorization": f"{scheme} {SCRAPE_TOKEN}"})
        assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_metrics_without_a_token_answer_loopback_clients_only(client):
    _refused(client.get("/metrics", environ_base=REMOTE))
    # X-Forwarded-For is written by the client: never a reason to answer...
    _refused(client.get("/metrics", environ_base=REMOTE, headers={"X-Forwarded-For": "127.0.0.1"}))
    # ...and on a loopback socket it means a proxy on this host relayed someone else's request.
    _refused(client.get("/metrics", environ_base=LOOPBACK, headers={"X-Forwarded-For": "203.0.113.9"}))
    _refused(client.get("/metrics", environ_base=LOOPBACK, headers={"Forwarded": "for=203.0.113.9"}))
    for address in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": address}).status_code == 200, address


def test_the_token_is_compared_in_constant_time(app, monkeypatch):
    seen = []
    real = metrics.hmac.compare_digest
    monkeypatch.setattr(metrics.hmac, "compare_digest", lambda a, b: seen.append((a, b)) or real(a, b))
    http = create_app(replace(state.of(app).settings, metrics_token=SCRAPE_TOKEN)).test_client()
    http.get("/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer guess"})
    assert seen == [(b"guess", SCRAPE_TOKEN.encode())]


@pytest.mark.parametrize("raw", ["short-token", "x" * 23, "has spaces in it, twenty-four+", "t\u00f6ken-" * 4])
def test_a_weak_or_unsendable_metrics_token_stops_start_up(raw, tmp_path):
    with pytest.raises(ConfigError, match="PAINPA_METRICS_TOKEN") as refused:
        Settings.from_env(env={"PAINPA_METRICS_TOKEN": raw}, home=tmp_path)
    assert raw not in str(refused.value)


def test_the_metrics_token_setting(tmp_path):
    assert Settings.from_env(env={}, home=tmp_path).metrics_token == ""
    settings = Settings.from_env(env={"PAINPA_METRICS_TOKEN": SCRAPE_TOKEN}, home=tmp_path)
    assert settings.metrics_token == SCRAPE_TOKEN and SCRAPE_TOKEN not in repr(settings)


def test_cc54_cors_preflight_only_for_allowlisted_origins(app):
    cors = create_app(replace(state.of(app).settings, cors_origins=("https://sandbox.cds-hooks.org",)))
    http = cors.test_client()
    headers = {"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization,content-type"}
    ok = http.options(f"/cds-services/{SIGN}", headers=headers)
    assert ok.status_code < 300
    assert ok.headers["Access-Control-Allow-Origin"] == "https://sandbox.cds-hooks.org"
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    other = http.options(f"/cds-services/{SIGN}", headers={**headers, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def _evaluate(tmp_path, body, *args):
    path = tmp_path / "request.json"
    path.write_text(json.dumps(body))
    env = {**os.environ, "PAINPA_HOME": str(tmp_path / "home")}
    return subprocess.run([str(VENV_BIN / "painpa"), "evaluate", str(path), *args], env=env,
                          capture_output=True, text=True)


def test_evaluate_prints_the_response(tmp_path):
    out = _evaluate(tmp_path, hook_body(prefetch=full_prefetch()), "--today", "2026-11-25")
    assert out.returncode == 0, out.stderr
    response = json.loads(out.stdout)
    assert "cards" in response and response.get("systemActions")


def test_evaluate_explain_and_bad_input(tmp_path):
    out = _evaluate(tmp_path, hook_body(prefetch=full_prefetch()), "--explain", "--today", "2026-11-25")
    assert out.returncode == 0 and "sr-esi-1" in out.stdout
    bad = _evaluate(tmp_path, {"hook": "order-dispatch"})
    assert bad.returncode == 1 and "order-dispatch" in bad.stderr
    assert _evaluate(tmp_path, {}, "--today", "tomorrow").returncode == 2


def test_evaluate_answers_patient_view_with_the_services_own_handler(tmp_path):
    # evaluate ran the order handler for every hook: a patient-view request got no CPM card.
    from datetime import date

    from tests.support.cpm_chart import chart, prefetch

    body = {"hook": "patient-view", "hookInstance": "e4a1b9c2", "context": {
        "userId": "Practitioner/p1", "patientId": "p1"}, "prefetch": prefetch(chart(date(2026, 11, 25)))}
    out = _evaluate(tmp_path, body, "--today", "2026-11-25")
    assert out.returncode == 0, out.stderr
    cards = json.loads(out.stdout)["cards"]
    assert len(cards) == 1 and "G3002" in json.dumps(cards[0])
