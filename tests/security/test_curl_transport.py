"""A round's GETs on libcurl (cds_service/fhir/curl.py) keep every property of the urllib3 path
(tests/cds/test_fhir_transport.py, tests/security/test_egress.py): kept-alive connections, an error
answer that fails only its own query, compressed answers asked for and capped at their decoded size,
no proxy from the environment, certificates checked before the token leaves, the egress guard's
addresses (DNS rebinding refused, and no socket opened to an address the guard did not pass even if
libcurl were sent there), at most PER_CALL_QUERIES transfers of one call at once, and a bounded
cache of kept-alive connections per thread."""

from __future__ import annotations

import json
import threading
import time

import psutil
import pytest

from cds_service.fhir import curl, rounds
from cds_service.fhir.client import FhirClient, new_pool
from cds_service.security import egress
from tests.cds.test_fhir_transport import _serve
from tests.support.sentinel import Sentinel
from tests.support.tls import tls_server


@pytest.fixture
def server():
    s = _serve()
    s.handle_error = lambda *_: None    # a connection libcurl closes (past the cap, the deadline) is no error here
    yield s
    s.shutdown()
    s.server_close()


def _client(base: str, deadline_s: float = 10) -> FhirClient:
    return FhirClient(base, "tok-" + "x" * 20, pool=new_pool(), connect_timeout=2.0, read_timeout=2.0,
                      deadline=time.monotonic() + deadline_s, max_pages=5)


def test_a_round_shares_kept_alive_connections_and_an_error_answer_fails_only_its_query(server):
    jobs = {f"k{i}": "Patient/pt-1" for i in range(6)} | {"gone": "Patient/gone"}
    for _ in range(3):
        results, failed = rounds.run(_client(server.base), jobs)
        assert failed == {"gone"}
        assert all(results[k][0]["id"] == "pt-1" for k in jobs if k != "gone")
    assert server.connections <= len(jobs)          # three rounds, one set of connections


def test_compressed_answers_are_decoded_and_capped_at_their_decoded_size(server):
    results, failed = rounds.run(_client(server.base), {"zip": "Patient/zip", "bomb": "Patient/bomb"})
    assert results["zip"] == [{"resourceType": "Patient", "id": "pt-1"}] and failed == {"bomb"}
    assert all("gzip" in seen["accept_encoding"] for seen in server.seen)


def test_proxies_in_the_environment_are_never_used(server, monkeypatch):
    trap = Sentinel()
    try:
        trap.as_proxy(monkeypatch)
        results, failed = rounds.run(_client(server.base), {"p": "Patient/pt-1"})
        assert not failed and results["p"][0]["id"] == "pt-1"
        assert not trap.touched()
    finally:
        trap.close()


def test_a_certificate_no_trusted_authority_signed_is_refused_before_any_request(tmp_path):
    tls = tls_server(tmp_path, "127.0.0.1")
    try:
        _results, failed = rounds.run(_client(f"https://127.0.0.1:{tls.port}/fhir"), {"p": "Patient/p"})
        assert failed == {"p"} and tls.seen == []
    finally:
        tls.close()


def test_dns_rebinding_is_refused_and_nothing_is_sent(fake_dns, sentinel):
    fake_dns["rebind.test"] = ["93.184.216.34"]
    egress.checked_addresses("rebind.test", sentinel.port)
    egress.clear_cache()
    fake_dns["rebind.test"] = ["127.0.0.1"]
    _results, failed = rounds.run(_client(f"http://rebind.test:{sentinel.port}/fhir"), {"p": "Patient/1"})
    assert failed == {"p"}
    assert not sentinel.touched()


def test_one_call_has_at_most_per_call_queries_transfers_at_once(server, monkeypatch):
    lock, running, peak = threading.Lock(), [0], [0]
    handler = server.RequestHandlerClass
    real = handler.do_GET

    def observed(self):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.02)
            real(self)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(handler, "do_GET", observed)
    jobs = {f"k{i}": "Patient/pt-1" for i in range(3 * rounds.PER_CALL_QUERIES)}
    results, failed = rounds.run(_client(server.base), jobs)
    assert not failed and len(results) == len(jobs)
    assert 1 < peak[0] <= rounds.PER_CALL_QUERIES


def test_a_round_past_the_deadline_fails_what_did_not_arrive(server, monkeypatch):
    handler = server.RequestHandlerClass
    real = handler.do_GET

    def slow(self):
        if self.path.endswith("/slow"):
            time.sleep(1.5)
        real(self)

    monkeypatch.setattr(handler, "do_GET", slow)
    started = time.monotonic()
    results, failed = rounds.run(_client(server.base, deadline_s=0.5), {"fast": "Patient/pt-1", "slow": "Patient/slow"})
    assert failed == {"slow"} and results["fast"][0]["id"] == "pt-1"
    assert time.monotonic() - started < 1.2


def test_no_socket_is_opened_to_an_address_the_guard_did_not_pass(fake_dns, sentinel, monkeypatch):
    """The guard passes the name's public address; libcurl is then sent elsewhere (as a stale or
    poisoned pin would): the socket callback refuses the connection and nothing reaches the host."""
    fake_dns["pinned.test"] = ["93.184.216.34"]
    monkeypatch.setattr(curl, "pin", lambda host, port, _addresses: f"{host}:{port}:127.0.0.1")
    _results, failed = rounds.run(_client(f"http://pinned.test:{sentinel.port}/fhir"), {"p": "Patient/1"})
    assert failed == {"p"}
    assert not sentinel.touched()


def test_a_threads_kept_alive_connections_are_capped(server, monkeypatch):
    """Each thread's multi handle keeps at most MAX_CONNECTIONS connections once a round ends
    (a gthread worker has one per thread); the rest are closed, not left open to the EHR."""
    handler = server.RequestHandlerClass
    real = handler.do_GET

    def slow(self):
        time.sleep(0.05)        # long enough for every transfer of the round to need its own connection
        real(self)

    monkeypatch.setattr(handler, "do_GET", slow)
    monkeypatch.setattr(curl, "MAX_CONNECTIONS", 3)
    port = server.server_address[1]
    outcome: dict = {}

    def one_round() -> None:    # a new thread: a new multi handle, made with the cap above
        outcome["round"] = rounds.run(_client(server.base), {f"k{i}": "Patient/pt-1" for i in range(8)})
        outcome["open"] = [c for c in psutil.Process().net_connections(kind="tcp")
                           if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED]

    worker = threading.Thread(target=one_round)
    worker.start()
    worker.join()
    results, failed = outcome["round"]
    assert not failed and len(results) == 8
    assert server.connections > 3 and 0 < len(outcome["open"]) <= 3


def test_tls_checks_the_url_host_name_while_the_socket_goes_to_the_pinned_address(pinned_tls):
    """As on the urllib3 pools (tests/security/test_egress.py): libcurl connects to the pinned
    address, and still checks the certificate (and sends SNI) for the URL's host name."""
    port, ca, sni, seen = pinned_tls

    def get(host: str) -> bytes | str:
        request = curl.Request(headers=["Accept: application/fhir+json"], max_bytes=1 << 20, budget=None,
                               connect_timeout=2.0, read_timeout=2.0, deadline=time.monotonic() + 5,
                               in_flight=1, ca_certs=ca)
        return curl.get_all({"p": f"https://{host}:{port}/fhir/Patient/p"}, request)["p"]

    assert json.loads(get("good.test"))["id"] == "p"
    assert "transfer failed" in get("other.test")
    assert sni == ["good.test", "other.test"]
    assert seen == ["/fhir/Patient/p"]   # the name the certificate does not cover got no request
