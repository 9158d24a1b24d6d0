"""One CPU-bound hook section at a time per worker (cds_service/cpu.py; docs/deploy.md
"Capacity"). What a user relies on: the slot never lets a wait outside the process hold up another
call in the same worker: a slow FHIR server (CDS Hooks 2.0 §FHIR Resource Access: the service
queries the EHR), or a caller uploading its body slowly. Units first (threads and events, no
timing), then one ``painpa serve`` worker with 4 threads over real HTTP."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests

from bench import patients
from cds_service import cpu
from tests.support import jwt as tjwt
from tests.support.procs import free_port, running
from tests.support.serve_harness import ISS as HARNESS_ISS
from tests.support.serve_harness import painpa_service

PID = "slot-pt"


def _in_thread(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def test_a_second_thread_waits_for_the_slot():
    inside, leave, second_in = threading.Event(), threading.Event(), threading.Event()

    def first():
        with cpu.section():
            inside.set()
            leave.wait(10)

    def second():
        with cpu.section():
            second_in.set()

    t1 = _in_thread(first)
    assert inside.wait(10)
    t2 = _in_thread(second)
    assert not second_in.wait(0.3)    # held: the second call waits
    leave.set()
    assert second_in.wait(10)         # released: it runs
    t1.join(10)
    t2.join(10)


def test_released_lets_another_call_run_and_takes_the_slot_back():
    waiting, other_done, back = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def waits_on_io():
        with cpu.section():
            with cpu.released():
                waiting.set()
                assert other_done.wait(10)   # the other call ran while this one waited
            order.append("back")             # holds the slot again here
            back.set()

    def other():
        assert waiting.wait(10)
        with cpu.section():
            order.append("other")
        other_done.set()

    threads = [_in_thread(waits_on_io), _in_thread(other)]
    assert back.wait(10)
    for t in threads:
        t.join(10)
    assert order == ["other", "back"]


def test_nested_sections_and_released_outside_a_section_do_not_block():
    with cpu.section(), cpu.section():       # re-entrant: no deadlock
        pass
    with cpu.released():          # not held: nothing to give up
        pass
    assert cpu._slot.acquire(blocking=False)   # the slot is free afterwards
    cpu._slot.release()


def test_a_call_waiting_on_dns_gives_the_slot_up(monkeypatch):
    from cds_service.security import egress

    asked, answer, other_ran = threading.Event(), threading.Event(), threading.Event()
    real = socket.getaddrinfo

    def slow_resolver(host, *args, **kwargs):
        if host != "slow-dns.example":
            return real(host, *args, **kwargs)
        asked.set()
        answer.wait(10)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.7", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)
    found: list = []

    def resolving_call():
        with cpu.section():
            found.extend(egress.resolve("slow-dns.example", 443, timeout=10))

    def other_call():
        assert asked.wait(10)
        with cpu.section():
            other_ran.set()

    threads = [_in_thread(resolving_call), _in_thread(other_call)]
    assert other_ran.wait(10)          # ran while the first call waited on the resolver
    assert not found
    answer.set()
    for t in threads:
        t.join(10)
    assert [str(ip) for ip in found] == ["203.0.113.7"]


def test_a_call_waiting_for_another_threads_jwks_fetch_lets_it_finish(monkeypatch):
    # Two calls of one worker need the same client's JWKS: the first fetches it, the second waits
    # for the first's result. The waiter must give the slot up, or the fetcher can never take it
    # back to store what it fetched (the second call then fails with 401 after its timeout).
    from cds_service import shared
    from cds_service.auth import jwks
    from cds_service.clients import ClientInfo
    from cds_service.policy.record import TenantDefaults

    key = tjwt.make_key("ES384")
    body = json.dumps(tjwt.jwks(key)).encode()
    fetching, go = threading.Event(), threading.Event()

    class _Answer:
        status_code = 200

        def __init__(self) -> None:
            self.raw = self

        def read(self, _n, decode_content=True):
            return body

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def slow_get(url, **kwargs):
        fetching.set()
        go.wait(10)
        return _Answer()

    monkeypatch.setattr(jwks._session, "get", slow_get)  # the guarded session of the JWKS fetch
    url = f"https://jwks-{uuid.uuid4().hex}.example/jwks.json"
    client = ClientInfo("https://slot-ehr.example/cds", None, url, None, (), None, TenantDefaults())
    cache = shared.LocalCache()
    results: dict[str, object] = {}

    def call(name: str) -> None:
        with cpu.section():
            try:
                results[name] = len(jwks.key_set(client, None, (2.0, 2.0), cache).keys)
            except jwks.JwksUnavailable as exc:
                results[name] = f"refused: {exc}"

    fetcher = _in_thread(lambda: call("fetcher"))
    assert fetching.wait(10)
    waiter = _in_thread(lambda: call("waiter"))
    time.sleep(0.2)                    # the waiter is polling for the fetcher's result by now
    go.set()
    fetcher.join(10)
    waiter.join(10)
    assert results == {"fetcher": 1, "waiter": 1}


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    """``painpa serve`` with one gunicorn worker (4 threads) and a fixture FHIR server process."""
    work = tmp_path_factory.mktemp("slot")
    today = datetime.now(UTC).date()
    data = work / "fhir.json"
    data.write_text(json.dumps(patients.practice(PID) + patients.make_patient(50, today, PID)))
    fhir_port = free_port()
    fhir_root = f"http://127.0.0.1:{fhir_port}"
    fhir_cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(fhir_port), "--data", str(data)]
    with running(fhir_cmd, ready_url=f"{fhir_root}/fhir/metadata"), \
            painpa_service([f"{fhir_root}/fhir"], workers=1, env={"PAINPA_THREADS": "4"}, home=work / "home") as svc:
        yield {"service": svc, "fhir_root": fhir_root, "today": today}


def _post(stack: dict, body: dict) -> requests.Response:
    return stack["service"].post("painpa-order-sign", body)


def _prefetch_call(stack: dict) -> dict:
    today = stack["today"]
    return patients.hook_body("order-sign", today, pid=PID,
                              prefetch_values=patients.prefetch(patients.make_patient(50, today, PID)))


def test_a_call_waiting_on_a_slow_fhir_server_does_not_hold_up_another_call(one_worker):
    root = one_worker["fhir_root"]
    requests.delete(f"{root}/_log", timeout=5)
    requests.post(f"{root}/_control", json={"slow": {"Condition": 4}}, timeout=5)
    try:
        slow_body = patients.hook_body("order-sign", one_worker["today"], pid=PID,
                                       fhir_server=f"{root}/fhir", token=f"tok-{uuid.uuid4().hex}")
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(_post, one_worker, slow_body)
            deadline = time.monotonic() + 20
            while not any("/Condition" in e["path"] for e in requests.get(f"{root}/_log", timeout=5).json()):
                assert time.monotonic() < deadline, "the slow call never reached the FHIR server"
                time.sleep(0.05)
            quick = _post(one_worker, _prefetch_call(one_worker))   # same worker, while the other waits
            assert quick.status_code == 200 and quick.json()["cards"]
            assert not slow.done()      # answered while the slow call was still waiting on FHIR
            assert slow.result(timeout=30).status_code == 200
    finally:
        requests.post(f"{root}/_control", json={}, timeout=5)


def test_a_slow_upload_does_not_hold_up_another_call(one_worker):
    svc = one_worker["service"]
    host, port = svc.base.removeprefix("http://").split(":")
    token = tjwt.sign(svc.key, HARNESS_ISS, svc.url("painpa-order-sign"))
    with socket.create_connection((host, int(port)), timeout=30) as stalled:
        stalled.sendall((f"POST /cds-services/painpa-order-sign HTTP/1.1\r\nHost: {host}\r\n"
                         f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                         "Content-Length: 200000\r\n\r\n").encode() + b'{"hook": "order-sign", ')
        time.sleep(0.5)   # the worker has authenticated the stalled call and is reading its body
        quick = _post(one_worker, _prefetch_call(one_worker))
        assert quick.status_code == 200 and quick.json()["cards"]
