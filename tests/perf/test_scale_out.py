"""Scale-out (docs/deploy.md): two gunicorn workers of ``painpa serve`` on one PostgreSQL and
one Redis, called over real HTTP on separate connections so that both workers answer. What a user
relies on: every call is audited once, feedback is stored once, a replayed JWT is refused whichever
worker sees it, the JWKS is fetched once per deployment, order-select warms order-sign across
workers (Redis), and the service keeps answering when a worker dies (workers are stateless).
CC-17 (jti replay), CC-51/52 (feedback), standards.md §7 (cache order-select for order-sign)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psutil
import pytest
import requests
from sqlalchemy import create_engine, text

from bench import patients
from cds_service import shared
from cds_service.auth import jwks
from tests.support import jwt as tjwt
from tests.support.jwks_host import JwksHost
from tests.support.procs import VENV_BIN, free_port, running

pytestmark = pytest.mark.postgres
ISS = "https://scale-ehr.example/cds"
PID = "scale-pt"


class Stack:
    def __init__(self, base: str, fhir_root: str, master: int, key, db_url: str) -> None:
        self.base, self.fhir_root, self.master, self.key, self.db_url = base, fhir_root, master, key, db_url
        self.fhir_base = f"{fhir_root}/fhir"
        self.today = datetime.now(UTC).date()

    def post(self, service: str, body: dict | bytes, *, token: str | None = None) -> requests.Response:
        url = f"{self.base}/cds-services/{service}"
        jwt_ = token or tjwt.sign(self.key, ISS, url)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        # A new connection per call (no keep-alive), so gunicorn spreads the calls over its workers.
        return requests.post(url, data=data, timeout=30, headers={
            **tjwt.bearer(jwt_), "Content-Type": "application/json", "Connection": "close"})

    def hook(self, hook: str, token: str) -> dict:
        return patients.hook_body(hook, self.today, pid=PID, fhir_server=self.fhir_base, token=token)

    def fhir_log(self) -> list[dict]:
        return requests.get(f"{self.fhir_root}/_log", timeout=5).json()

    def sql(self, query: str, **params) -> list:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(query), params))
        finally:
            engine.dispose()

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.master).children(recursive=True)


@pytest.fixture(scope="module")
def jwks_host():
    host = JwksHost()
    yield host
    host.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres_url, redis_url, jwks_host):
    work = tmp_path_factory.mktemp("scale")
    today = datetime.now(UTC).date()
    data = work / "fhir.json"
    data.write_text(json.dumps(patients.practice(PID) + patients.make_patient(50, today, PID)))
    key = tjwt.make_key("ES384")
    jwks_host.keys = tjwt.jwks(key)
    fhir_port, port = free_port(), free_port()
    fhir_root, base = f"http://127.0.0.1:{fhir_port}", f"http://127.0.0.1:{port}"
    env = {**os.environ, "PAINPA_HOME": str(work / "home"), "PAINPA_BASE_URL": base,
           "DATABASE_URL": postgres_url, "PAINPA_REDIS_URL": redis_url, "PAINPA_THREADS": "4"}
    fhir_cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(fhir_port), "--data", str(data)]
    with running(fhir_cmd, ready_url=f"{fhir_root}/fhir/metadata"):
        import subprocess

        subprocess.run([str(VENV_BIN / "painpa"), "clients", "add", "--iss", ISS, "--jwks-url", jwks_host.url,
                        "--fhir-base", f"{fhir_root}/fhir"], env=env, check=True, capture_output=True)
        with running(["painpa", "serve", "--port", str(port), "--workers", "2"], ready_url=f"{base}/healthz",
                     env=env, log_path=work / "serve.log", timeout=60) as proc:
            s = Stack(base, fhir_root, proc.pid, key, postgres_url)
            deadline = time.monotonic() + 30
            while len(s.workers()) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            yield s


def _spread(fn, items, threads: int = 8) -> list:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, items))


def test_two_workers_audit_every_call_once_and_fetch_the_jwks_once(stack, jwks_host, redis_url):
    assert len(stack.workers()) == 2
    redis_cache = shared.cache_for(redis_url)
    for namespace in (jwks.CACHE_NS, jwks.FETCH_NS):  # a cold key set, whichever test of the stack ran first
        redis_cache.clear(namespace)
    jwks_host.hits.clear()
    cpu = {w.pid: sum(w.cpu_times()[:2]) for w in stack.workers()}
    bodies = [stack.hook("order-select" if i % 2 else "order-sign", f"tok-{uuid.uuid4().hex}") for i in range(16)]
    responses = _spread(lambda b: stack.post("painpa-" + b["hook"], b), bodies)
    assert [r.status_code for r in responses] == [200] * 16
    assert all(sum(w.cpu_times()[:2]) > cpu[w.pid] for w in stack.workers())  # both workers served calls
    instances = [b["hookInstance"] for b in bodies]
    rows = stack.sql("SELECT hook_instance, status FROM cds_audit WHERE hook_instance = ANY(:ids)", ids=instances)
    assert sorted(r[0] for r in rows) == sorted(instances)  # one row per call, none lost or doubled
    assert {r[1] for r in rows} == {200}
    assert jwks_host.hits.count("/jwks.json") == 1  # shared through Redis: one fetch for both workers


def test_a_replayed_jwt_is_refused_by_whichever_worker_sees_it(stack):
    url = f"{stack.base}/cds-services/painpa-order-sign"
    token = tjwt.sign(stack.key, ISS, url)
    body = json.dumps(stack.hook("order-sign", f"tok-{uuid.uuid4().hex}")).encode()
    barrier = threading.Barrier(6)

    def attempt(_):
        barrier.wait()
        return stack.post("painpa-order-sign", body, token=token).status_code

    statuses = _spread(attempt, range(6), threads=6)
    assert sorted(statuses) == [200, 401, 401, 401, 401, 401]


def test_feedback_sent_twice_through_two_workers_is_stored_once(stack):
    resp = stack.post("painpa-order-sign", stack.hook("order-sign", f"tok-{uuid.uuid4().hex}"))
    cards = resp.json()["cards"]
    assert cards
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    item = {"feedback": [{"card": c["uuid"], "outcome": "overridden", "outcomeTimestamp": stamp,
                          "overrideReason": {"userComment": "scale-out test"}} for c in cards]}
    url = f"{stack.base}/cds-services/painpa-order-sign/feedback"

    def send(_):
        return requests.post(url, json=item, timeout=30, headers={
            **tjwt.bearer(tjwt.sign(stack.key, ISS, url)), "Connection": "close"}).status_code

    assert _spread(send, range(4), threads=4) == [200] * 4
    rows = stack.sql("SELECT card FROM cds_feedback WHERE card = ANY(:cards)", cards=[c["uuid"] for c in cards])
    assert sorted(r[0] for r in rows) == sorted(c["uuid"] for c in cards)


def test_order_select_warms_order_sign_on_any_worker(stack):
    requests.delete(f"{stack.fhir_root}/_log", timeout=5)
    tokens = [f"tok-{uuid.uuid4().hex}" for _ in range(6)]
    for token in tokens:
        assert stack.post("painpa-order-select", stack.hook("order-select", token)).status_code == 200
        assert stack.post("painpa-order-sign", stack.hook("order-sign", token)).status_code == 200
    searches = [e for e in stack.fhir_log() if e["path"] == "/fhir/Procedure"]
    assert len(searches) == len(tokens)  # one search per select/sign pair: sign reused it via Redis


def test_calls_keep_succeeding_when_a_worker_dies(stack):
    victim = stack.workers()[0]
    os.kill(victim.pid, signal.SIGKILL)
    statuses = _spread(lambda i: stack.post("painpa-order-sign", stack.hook("order-sign", f"t-{i}-{uuid.uuid4().hex}"))
                       .status_code, range(10), threads=4)
    assert statuses == [200] * 10  # the surviving worker (and then the replacement) answer everything
    deadline = time.monotonic() + 30
    while len(stack.workers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(stack.workers()) == 2  # gunicorn replaced it
    assert stack.post("painpa-order-sign", stack.hook("order-sign", f"t-{uuid.uuid4().hex}")).status_code == 200
