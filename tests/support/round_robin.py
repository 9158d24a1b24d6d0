"""A round-robin reverse proxy for tests that run several ``painpa serve`` instances behind one
public URL, as a hospital's load balancer does (docs/deploy.md "Horizontal scaling"):

    with round_robin(["http://127.0.0.1:P1", "http://127.0.0.1:P2"]) as proxy:
        proxy.url                       # the public base URL every instance is configured with
        proxy.answered_by               # backend index of each proxied request, in order

Requests alternate between the backends; the body, method, path, query and headers go through
unchanged (``Host`` aside), redirects are passed back as they are. Standard library only.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.support.procs import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Proxy:
    port: int
    backends: list[str]
    answered_by: list[int] = field(default_factory=list)
    _turn: itertools.cycle = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._turn = itertools.cycle(range(len(self.backends)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_backend(self) -> tuple[int, str]:
        with self._lock:
            index = next(self._turn)
            self.answered_by.append(index)
        return index, self.backends[index]


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            _, backend = proxy.next_backend()
            target = urlsplit(backend)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
            headers["X-Forwarded-For"] = self.client_address[0]
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except OSError:
                self.send_error(502)
                return
            finally:
                conn.close()
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _forward  # noqa: N815 - http.server naming

    return Forward


@contextmanager
def round_robin(backends: list[str], port: int | None = None) -> Iterator[Proxy]:
    proxy = Proxy(port or free_port(), list(backends))
    server = ThreadingHTTPServer(("127.0.0.1", proxy.port), _handler(proxy))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
