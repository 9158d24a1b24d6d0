"""A listening loopback socket that must never be connected to: the assertion of "no outbound
connection attempted" in the egress, transport and fault tests."""

from __future__ import annotations

import select
import socket


class Sentinel:
    """A listening loopback socket that must never be connected to: ``touched()`` says whether
    anything connected since it opened (the assertion of "no outbound connection attempted")."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def touched(self, wait: float = 0.2) -> bool:
        readable, _, _ = select.select([self.sock], [], [], wait)
        return bool(readable)

    def close(self) -> None:
        self.sock.close()

    def as_proxy(self, monkeypatch) -> None:
        """Name this socket as every proxy the environment can give (and no exception to them): a
        transport that honours them connects here."""
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, self.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
