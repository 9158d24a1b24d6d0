"""The hook's FHIR reads on their own connection pools (cds_service/fhir/client.py ``new_pool``:
urllib3 directly, not a ``requests`` session; bench/RESULTS.md). What the transport must keep
doing for the physician's call and the EHR's token (CDS Hooks 2.0 §FHIR Resource Access "https";
standards.md §8.3; CC-27, CC-28): connections kept open and reused, an error answer never leaves a
half-read connection behind for the next read, compressed answers asked for and capped after
decoding, certificates checked, and no proxy taken from the environment."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cds_service.fhir.client import MAX_BODY_BYTES, FhirClient, FhirError, new_pool
from tests.support.sentinel import Sentinel
from tests.support.tls import tls_server

PATIENT = json.dumps({"resourceType": "Patient", "id": "pt-1"}).encode()
OUTCOME = json.dumps({"resourceType": "OperationOutcome",
                      "issue": [{"severity": "error", "code": "not-found", "diagnostics": "x" * 2000}]}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as EHR FHIR servers do

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.seen.append({"path": self.path, "accept_encoding": self.headers.get("Accept-Encoding", "")})
        status, body, headers = 200, PATIENT, {}
        if self.path.endswith("/gone"):
            status, body = 404, OUTCOME        # an error answer with a body the client must not leave unread
        elif self.path.endswith("/zip") and "gzip" in self.headers.get("Accept-Encoding", ""):
            body, headers = gzip.compress(PATIENT), {"Content-Encoding": "gzip"}
        elif self.path.endswith("/bomb"):
            inflated = b'{"resourceType": "Patient", "id": "b", "text": "' + b" " * (MAX_BODY_BYTES + 1) + b'"}'
            body, headers = gzip.compress(inflated, compresslevel=9), {"Content-Encoding": "gzip"}
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.lock, server.connections, server.seen = threading.Lock(), 0, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.base = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    return server


@pytest.fixture
def server():
    s = _serve()
    yield s
    s.shutdown()
    s.server_close()


def _client(base: str, pool=None) -> FhirClient:
    return FhirClient(base, "tok-" + "x" * 20, pool=pool or new_pool(), connect_timeout=2.0, read_timeout=2.0,
                      deadline=time.monotonic() + 10, max_pages=5)


def test_reads_share_one_kept_alive_connection_and_an_error_answer_does_not_poison_it(server):
    client = _client(server.base)
    assert client.get(f"{server.base}/Patient/pt-1")["id"] == "pt-1"
    with pytest.raises(FhirError, match="HTTP 404"):
        client.get(f"{server.base}/Patient/gone")
    for _ in range(3):   # a connection handed back with the 404's body unread fails the next read
        assert client.get(f"{server.base}/Patient/pt-1")["id"] == "pt-1"
    assert len(server.seen) == 5
    assert server.connections == 2   # one before the error answer (closed with it), one after


def test_error_answers_and_refused_bodies_give_their_pool_slots_back(server):
    """A closed connection must free its slot too: urllib3's ``close()`` alone does not (requests'
    did), and a pool that blocks when full would then wait forever after ``maxsize`` errors."""
    pool = new_pool(pool_size=2)
    client = _client(server.base, pool)
    for _ in range(3):
        with pytest.raises(FhirError, match="HTTP 404"):
            client.get(f"{server.base}/Patient/gone")
        with pytest.raises(FhirError, match="response too large|byte budget"):
            _client(server.base, pool).get(f"{server.base}/Patient/bomb")
    slots = pool.connection_from_url(server.base)
    assert slots.pool.qsize() == slots.pool.maxsize == 2


def test_compressed_answers_are_asked_for_and_decoded(server):
    assert _client(server.base).get(f"{server.base}/Patient/zip") == {"resourceType": "Patient", "id": "pt-1"}
    assert "gzip" in server.seen[-1]["accept_encoding"]


def test_a_compressed_answer_is_capped_at_its_decoded_size(server):
    with pytest.raises(FhirError, match="response too large|byte budget"):   # decoded bytes count
        _client(server.base).get(f"{server.base}/Patient/bomb")


def test_proxies_in_the_environment_are_never_used(server, monkeypatch):
    """A proxy would see the bearer token; the operator registered the FHIR base, not a proxy."""
    trap = Sentinel()
    try:
        trap.as_proxy(monkeypatch)
        assert _client(server.base).get(f"{server.base}/Patient/pt-1")["id"] == "pt-1"
        assert not trap.touched()
    finally:
        trap.close()


def test_a_server_certificate_no_trusted_authority_signed_is_refused_before_any_request(tmp_path):
    tls = tls_server(tmp_path, "127.0.0.1")   # signed by a CA of the test's own, in no trust store
    try:
        base = f"https://127.0.0.1:{tls.port}/fhir"
        with pytest.raises(FhirError, match="SSLError"):
            _client(base).get(f"{base}/Patient/p")
        assert tls.seen == []   # the token never left: the handshake failed first
    finally:
        tls.close()
