"""End to end over real HTTP between real processes: ``painpa serve`` (gunicorn, two workers) calls
the fixture FHIR server process; the client is registered with the real ``painpa clients add``;
JWTs are signed with keys generated here. CC-1, CC-16, CC-25, CC-42 across process boundaries."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import jwt as tjwt
from tests.support.hook_requests import SELECT, SIGN, full_prefetch, hook_body
from tests.support.procs import VENV_BIN, free_port, running
from tests.support.response_checks import check_coverage_information, check_shape

ISS = "https://integration-ehr.example/cds"
TOKEN = "integration-access-token-0123456789"


def _painpa(env, *args):
    return subprocess.run([str(VENV_BIN / "painpa"), *args], env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def service(tmp_path_factory, fhir_server):
    home = tmp_path_factory.mktemp("painpa-home")
    key = tjwt.make_key("ES384")
    (home / "ehr-jwks.json").write_text(json.dumps(tjwt.jwks(key)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PAINPA_HOME": str(home), "PAINPA_BASE_URL": base}
    env.pop("DATABASE_URL", None)
    added = _painpa(env, "clients", "add", "--iss", ISS, "--jwks-file", str(home / "ehr-jwks.json"),
                    "--fhir-base", fhir_server.base, "--default-state", "TX", "--default-pos", "24")
    assert added.returncode == 0, added.stderr
    listed = _painpa(env, "clients", "list", "--json")
    assert json.loads(listed.stdout)[0]["fhir_bases"] == [fhir_server.base]
    with running(["painpa", "serve", "--port", str(port), "--workers", "2"], ready_url=f"{base}/healthz",
                 env=env, log_path=home / "serve.log"):
        yield base, key, home


def _post(base, key, service_id, body, token=None):
    url = f"{base}/cds-services/{service_id}"
    jwt_ = token or tjwt.sign(key, ISS, url)
    return requests.post(url, json=body, headers=tjwt.bearer(jwt_), timeout=15)


def test_discovery_health_and_readiness(service):
    base, _, _ = service
    assert requests.get(f"{base}/cds-services", timeout=5).json()["services"]
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200


def test_order_sign_with_full_fhir_querying(service, fhir):
    base, key, home = service
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    resp = _post(base, key, SIGN, body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    check_shape(out, body)
    check_coverage_information(out, body, in_scope={"ServiceRequest/sr-esi-1"})
    paths = {e["path"] for e in fhir.log()}
    assert {"/fhir/Patient/pt-esi-1", "/fhir/Coverage", "/fhir/Procedure", "/fhir/Location/loc-asc-1"} <= paths
    assert TOKEN not in (home / "serve.log").read_text()


def test_order_select_then_sign_with_prefetch(service):
    base, key, _ = service
    select = hook_body("order-select", prefetch=full_prefetch())
    assert _post(base, key, SELECT, select).status_code == 200
    sign = hook_body(prefetch=full_prefetch())
    assert _post(base, key, SIGN, sign).status_code == 200


def test_replay_is_refused_across_workers(service):
    base, key, _ = service
    url = f"{base}/cds-services/{SIGN}"
    token = tjwt.sign(key, ISS, url)
    statuses = [_post(base, key, SIGN, {}, token=token).status_code for _ in range(4)]
    assert statuses == [400, 401, 401, 401]


def test_unregistered_client_and_clients_remove(service):
    base, key, home = service
    stranger = tjwt.make_key("ES384")
    url = f"{base}/cds-services/{SIGN}"
    assert _post(base, key, SIGN, {}, token=tjwt.sign(stranger, "https://nobody.example", url)).status_code == 401


def _order_sign_calls(base: str) -> float:
    """painpa_cds_requests_total for order-sign over every status, scraped on a new connection."""
    text = requests.get(f"{base}/metrics", timeout=5).text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == "painpa_cds_requests_total" and s.labels["service"] == SIGN)


def test_metrics_sum_every_worker_whichever_one_is_scraped(service):
    """Two workers; each call and each scrape on a new connection, so they land on either worker.
    Per-process counters made every scrape report one worker's share (and reset on recycling)."""
    base, key, _ = service
    before = _order_sign_calls(base)
    for _ in range(8):
        assert _post(base, key, SIGN, {}).status_code == 400
    scrapes = [_order_sign_calls(base) for _ in range(6)]
    assert scrapes == [before + 8] * 6
    assert "painpa_cds_request_seconds_bucket" in requests.get(f"{base}/metrics", timeout=5).text


def test_clients_cli_errors_are_clear(tmp_path):
    env = {**os.environ, "PAINPA_HOME": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    bad = _painpa(env, "clients", "add", "--iss", "x", "--jwks-url", "https://k.example/jwks",
                  "--fhir-base", "ftp://nope")
    assert bad.returncode == 2 and "not an absolute http(s) URL" in bad.stderr
    (tmp_path / "hmac.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}))
    hmac = _painpa(env, "clients", "add", "--iss", "x", "--jwks-file", str(tmp_path / "hmac.json"),
                   "--fhir-base", "https://e.example/fhir")
    assert hmac.returncode == 2 and "HMAC" in hmac.stderr
    ok = _painpa(env, "clients", "add", "--iss", "x", "--jwks-url", "https://k.example/jwks",
                 "--fhir-base", "https://e.example/fhir/")
    assert ok.returncode == 0
    assert "https://e.example/fhir" in _painpa(env, "clients", "list").stdout
    assert _painpa(env, "clients", "remove", "x").returncode == 0
    assert _painpa(env, "clients", "remove", "x").returncode == 1
    assert "no clients registered" in _painpa(env, "clients", "list").stdout


def test_serve_refuses_a_bad_base_url(tmp_path):
    env = {**os.environ, "PAINPA_HOME": str(tmp_path)}
    out = subprocess.run([str(VENV_BIN / "painpa"), "serve", "--port", str(free_port()), "--base-url",
                          "cds.example.org"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "must be an absolute http(s) URL" in out.stderr
