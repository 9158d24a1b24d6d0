"""A hostile FHIR R4 server, run as its own process, for fault-injection tests (CRD
foundation "Performance"; standards.md §7, §8.3, §10 CC-56):

    python -m tests.support.hostile_fhir --port P [--data FILE.json]

It serves the resources of a Bundle honestly (``mode = ok``) or misbehaves in one of the
:data:`MODES`, for every request or only for the resource types listed. Switch at run time with
``POST /_control {"mode": "slow", "types": ["Coverage"], "delay": 5}``; ``GET /_log`` returns
what was asked (path, whether a bearer token came), ``DELETE /_log`` clears it.

Built on the standard library's ``http.server`` rather than Flask so that it can do what a
well-behaved framework will not: drip a body byte by byte, reset a TCP connection, send a
``Content-Length`` it never honours.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

MODES = ("ok", "slow", "drip", "status500", "status429", "malformed", "wrong_type", "huge", "oversize",
         "endless_next", "escape_next", "reset", "redirect", "truncated", "not_json_type", "operation_outcome")


class State:
    def __init__(self, resources: list[dict]) -> None:
        self.by_type: dict[str, dict[str, dict]] = {}
        for r in resources:
            self.by_type.setdefault(r["resourceType"], {})[r["id"]] = r
        self.mode = "ok"
        self.types: set[str] = set()
        self.delay = 5.0
        self.target = "http://127.0.0.1:9/steal-the-token"  # where ``redirect`` sends the client
        self.log: list[dict] = []
        self.lock = threading.Lock()
        self._huge: bytes | None = None
        self.huge_lock = threading.Lock()


def _bundle(base: str, rtype: str, resources: list[dict], next_url: str | None = None) -> dict:
    links = [{"relation": "self", "url": f"{base}/{rtype}"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources), "link": links,
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]}


def _huge_bundle(base: str, n: int = 20000) -> bytes:
    obs = [{"resourceType": "Observation", "id": f"o{i}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "subject": {"reference": "Patient/pt-esi-1"}, "effectiveDateTime": "2025-01-01",
            "valueQuantity": {"value": i % 11}} for i in range(n)]
    return json.dumps(_bundle(base, "Observation", obs)).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State  # set on the subclass made by serve()

    def log_message(self, *args) -> None:  # quiet: the test reads /_log instead
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/fhir+json", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: object, **kw) -> None:
        self._send(status, json.dumps(obj).encode(), **kw)

    def do_DELETE(self) -> None:  # noqa: N802 - http.server naming
        with self.state.lock:
            self.state.log.clear()
        self._send(204, b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.state.lock:
            self.state.mode = body.get("mode", "ok")
            self.state.types = set(body.get("types") or ())
            self.state.delay = float(body.get("delay", 5.0))
            self.state.target = body.get("target") or self.state.target
        self._json(200, {"mode": self.state.mode})

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if parts.path == "/_log":
            with self.state.lock:
                return self._json(200, list(self.state.log))
        if parts.path in ("/fhir/metadata", "/healthz"):
            return self._json(200, {"resourceType": "CapabilityStatement", "status": "active", "fhirVersion": "4.0.1",
                                    "kind": "instance"})
        segments = [s for s in parts.path.split("/") if s]
        with self.state.lock:  # every path, also those outside /fhir: a test asserts none is asked
            self.state.log.append({"path": parts.path, "query": parts.query,
                                   "auth": bool(self.headers.get("Authorization"))})
        if len(segments) < 2 or segments[0] != "fhir":
            return self._json(404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                                                                                   "code": "not-found"}]})
        rtype = segments[1]
        with self.state.lock:
            mode = self.state.mode if not self.state.types or rtype in self.state.types else "ok"
            delay = self.state.delay
        base = f"http://{self.headers.get('Host')}/fhir"
        getattr(self, f"_mode_{mode}")(base, rtype, segments[2] if len(segments) > 2 else None, parts.query, delay)

    # -- the honest answer -------------------------------------------------------------------------
    def _mode_ok(self, base, rtype, rid, query, delay) -> None:
        found = self.state.by_type.get(rtype, {})
        if rid is not None:
            if rid not in found:
                return self._json(404, {"resourceType": "OperationOutcome",
                                        "issue": [{"severity": "error", "code": "not-found"}]})
            return self._json(200, found[rid])
        return self._json(200, _bundle(base, rtype, list(found.values())))

    # -- faults --------------------------------------------------------------------------------------
    def _mode_slow(self, base, rtype, rid, query, delay) -> None:
        time.sleep(delay)
        self._mode_ok(base, rtype, rid, query, delay)

    def _mode_drip(self, base, rtype, rid, query, delay) -> None:
        """Headers at once, then one byte every 0.4 s: no read timeout ever fires."""
        body = json.dumps(_bundle(base, rtype, list(self.state.by_type.get(rtype, {}).values()))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(0.4)
        except OSError:
            pass

    def _mode_status500(self, base, rtype, rid, query, delay) -> None:
        self._json(500, {"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "code": "exception"}]})

    def _mode_status429(self, base, rtype, rid, query, delay) -> None:
        self._json(429, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "throttled"}]},
                   headers={"Retry-After": "120"})

    def _mode_malformed(self, base, rtype, rid, query, delay) -> None:
        self._send(200, b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": ')

    def _mode_not_json_type(self, base, rtype, rid, query, delay) -> None:
        self._send(200, b"<html><body>Gateway says hello</body></html>", ctype="text/html")

    def _mode_operation_outcome(self, base, rtype, rid, query, delay) -> None:
        self._json(200, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]})

    def _mode_wrong_type(self, base, rtype, rid, query, delay) -> None:
        """A Patient where a Coverage was asked, a Bundle of Patients for any search, JSON arrays."""
        other = {"resourceType": "Patient", "id": "intruder", "name": [{"family": "Wrong"}]}
        if rid is not None:
            return self._json(200, other if rtype != "Patient" else {"resourceType": "Coverage", "id": "x"})
        return self._json(200, {"resourceType": "Bundle", "type": "searchset",
                                "entry": [{"resource": other}, {"resource": [1, 2]}, {"resource": "text"}, 7]})

    def _mode_huge(self, base, rtype, rid, query, delay) -> None:
        # Built once, by one thread: every query of a call arrives at once, and each building its own
        # copy kept this process busy for seconds after the call, starving the next test's queries.
        with self.state.huge_lock:
            if self.state._huge is None:
                self.state._huge = _huge_bundle(base)
        self._send(200, self.state._huge)

    def _mode_oversize(self, base, rtype, rid, query, delay) -> None:
        """A body announced as 64 MB; streamed as fast as the socket takes it."""
        chunk = b" " * 65536
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(64 * 1024 * 1024 + 2))
        self.end_headers()
        try:
            self.wfile.write(b"{")
            for _ in range(1024):
                self.wfile.write(chunk)
            self.wfile.write(b"}")
        except OSError:
            pass

    def _mode_endless_next(self, base, rtype, rid, query, delay) -> None:
        page = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("_page", "0"))
        found = list(self.state.by_type.get(rtype, {}).values())[:1]
        self._json(200, _bundle(base, rtype, found, next_url=f"{base}/{rtype}?_page={page + 1}"))

    def _mode_escape_next(self, base, rtype, rid, query, delay) -> None:
        """An honest first page whose ``next`` link is the control's ``target``, ``{base}`` replaced:
        e.g. ``{base}/../../../admin/X``, which starts with the base and leaves it once resolved."""
        if rid is not None:
            return self._mode_ok(base, rtype, rid, query, delay)
        found = list(self.state.by_type.get(rtype, {}).values())
        self._json(200, _bundle(base, rtype, found, next_url=self.state.target.replace("{base}", base)))

    def _mode_reset(self, base, rtype, rid, query, delay) -> None:
        """Abort the TCP connection (RST) without an answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _mode_truncated(self, base, rtype, rid, query, delay) -> None:
        """Promise 10 000 bytes, send 20, close."""
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", "10000")
        self.end_headers()
        self.wfile.write(b'{"resourceType": "Bu')
        self.wfile.flush()
        self.close_connection = True

    def _mode_redirect(self, base, rtype, rid, query, delay) -> None:
        self._send(302, b"", headers={"Location": self.state.target})


def serve(port: int, resources: list[dict]) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": State(resources)})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, help="a Bundle (or JSON array) of resources to serve")
    args = parser.parse_args()
    resources: list[dict] = []
    if args.data:
        raw = json.loads(args.data.read_text())
        resources = [e["resource"] for e in raw.get("entry", [])] if isinstance(raw, dict) else list(raw)
    serve(args.port, resources).serve_forever()


if __name__ == "__main__":
    main()
