"""Operational surfaces: /healthz, /readyz, /metrics, CORS (CC-54), ``painpa evaluate``."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families

from cds_service import state
from cds_service.app import create_app
from tests.support.hook_requests import SIGN, full_prefetch, hook_body
from tests.support.procs import VENV_BIN


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["policies"] == "ok"


def _samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_expose_counts_and_histogram(caller, client):
    before = _samples(client.get("/metrics").get_data(as_text=True))
    caller.post(SIGN, {})
    resp = client.get("/metrics")
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    after = _samples(resp.get_data(as_text=True))
    calls = ("painpa_cds_requests_total", (("service", SIGN), ("status", "400")))
    slowest = ("painpa_cds_request_seconds_bucket", (("le", "+Inf"), ("service", SIGN)))
    assert after[calls] == before.get(calls, 0) + 1
    assert after[slowest] == before.get(slowest, 0) + 1
    assert not [name for name, _ in after if name.endswith("_created")]   # counts and histogram only


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
    bad = _evaluate(tmp_path, {"hook": "appointment-book"})
    assert bad.returncode == 1 and "appointment-book" in bad.stderr
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
