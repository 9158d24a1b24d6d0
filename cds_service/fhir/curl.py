"""One round of a hook call's FHIR reads on libcurl's multi interface (CDS Hooks 2.0 §FHIR Resource
Access; CRD foundation "Performance"; docs/security.md "Outbound requests").

The round's GETs run at once in C on the calling thread: no thread per read, and libcurl spends a
fraction of the CPU urllib3 and ``http.client`` spend on each request (bench/RESULTS.md round 8,
"libcurl"). Each thread keeps one multi handle, whose connection cache keeps connections alive
across calls (at most MAX_CONNECTIONS), and reuses its easy handles.

Every rule the urllib3 path (cds_service/security/egress.py) enforces holds here too:

- **Addresses**: the host is resolved and checked by :func:`egress.checked_addresses` and pinned
  with ``CURLOPT_RESOLVE``; ``CURLOPT_OPENSOCKETFUNCTION`` refuses to open a socket to any other
  address, so a connection can only reach what the guard passed (DNS rebinding, SSRF).
- **No detours**: no proxy from the environment (``CURLOPT_PROXY`` "" and ``NOPROXY`` "*"), no
  redirects, http(s) only; no cookies, ``.netrc`` or alt-svc (libcurl reads them only when asked).
- **TLS**: the same CA bundle as the urllib3 pools, the peer and host name verified, TLS 1.2 at least.
- **Bounds**: the size cap and the call's byte budget on the decoded bytes (the write callback ends
  the transfer past them, so a gzip bomb stops at the cap), the connect timeout, the read timeout as
  a stall limit, the call's deadline on every transfer, and at most ``in_flight`` transfers of one
  call at once.

Nothing here logs a URL or a header; a failure is reported by the query's key with a reason.
"""

from __future__ import annotations

import io
import ipaddress
import math
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pycurl
from requests.certs import where as ca_bundle

from cds_service import cpu
from cds_service.security import egress, urls
from cds_service.security.limits import Budget

MAX_CONNECTIONS = 32       # kept-alive connections one thread's multi handle holds (CURLMOPT_MAXCONNECTS)
ACCEPT_ENCODING = "gzip, deflate"


@dataclass
class Request:
    """What every GET of one round carries (all URLs on one host, under the call's base)."""

    headers: list[str]
    max_bytes: int
    budget: Budget | None
    connect_timeout: float
    read_timeout: float
    deadline: float         # time.monotonic() value
    in_flight: int
    ca_certs: str = field(default_factory=ca_bundle)    # the urllib3 pools' bundle (fhir/client.py new_pool)


@dataclass
class _Handles:
    """One thread's multi handle and idle easy handles; a forked process makes its own."""

    multi: pycurl.CurlMulti
    pid: int
    idle: list[pycurl.Curl] = field(default_factory=list)


_local = threading.local()


def _handles() -> _Handles:
    handles = getattr(_local, "handles", None)
    if handles is None or handles.pid != os.getpid():
        multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_MAXCONNECTS, MAX_CONNECTIONS)
        handles = _local.handles = _Handles(multi, os.getpid())
    return handles


def _easy(handles: _Handles) -> pycurl.Curl:
    if handles.idle:
        return handles.idle.pop()
    c = pycurl.Curl()
    c.setopt(pycurl.NOSIGNAL, 1)
    c.setopt(pycurl.FOLLOWLOCATION, 0)
    c.setopt(pycurl.PROXY, "")
    c.setopt(pycurl.NOPROXY, "*")
    c.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
    c.setopt(pycurl.SSL_VERIFYPEER, 1)
    c.setopt(pycurl.SSL_VERIFYHOST, 2)
    c.setopt(pycurl.SSLVERSION, pycurl.SSLVERSION_TLSv1_2)
    c.setopt(pycurl.ACCEPT_ENCODING, ACCEPT_ENCODING)
    c.setopt(pycurl.LOW_SPEED_LIMIT, 1)
    return c


def _idle(c: pycurl.Curl) -> None:
    """Let go of the last transfer's callbacks and headers, so an idle handle holds no answer,
    socket list or bearer token."""
    c.setopt(pycurl.HTTPHEADER, [])
    c.setopt(pycurl.WRITEFUNCTION, _drop)
    c.setopt(pycurl.OPENSOCKETFUNCTION, _refuse)


def _drop(_data: bytes) -> int:
    return 0


def _refuse(_purpose, _address):
    return pycurl.SOCKET_BAD


class _Transfer:
    """One GET's answer, read under the size cap and the call's byte budget."""

    def __init__(self, key: str, cap: int, budget: Budget | None) -> None:
        self.key, self.cap, self.budget = key, cap, budget
        self.body = io.BytesIO()
        self.refused: str | None = None

    def write(self, data: bytes) -> int | None:
        if self.body.tell() + len(data) > self.cap:
            self.refused = "response too large"
            return 0            # a short write ends the transfer
        if self.budget is not None and not self.budget.take_bytes(len(data)):
            self.refused = "the call's FHIR byte budget is spent"
            return 0
        self.body.write(data)
        return None


def _wait(multi: pycurl.CurlMulti, seconds: float) -> None:
    """Wait for a socket of the round, at most ``seconds``: a wait on the FHIR server, so the
    worker's other calls run meanwhile (and a profile can tell the wait from libcurl's work)."""
    with cpu.released():
        multi.select(seconds)


def pin(host: str, port: int, addresses) -> str:
    """The ``CURLOPT_RESOLVE`` entry that sends ``host:port`` to the checked ``addresses`` only."""
    listed = ",".join(f"[{ip}]" if ip.version == 6 else str(ip) for ip in addresses)
    return f"{host}:{port}:{listed}"


def get_all(urls_by_key: dict[str, str], request: Request) -> dict[str, bytes | str]:
    """GET every URL of ``urls_by_key`` (key -> absolute URL, all on one host, each already checked
    under the call's base); each key's body, or the reason its read failed."""
    out: dict[str, bytes | str] = {}
    if not urls_by_key:
        return out
    try:
        checked = {key: urls.sendable(url) for key, url in urls_by_key.items()}
        parts = urlsplit(next(iter(checked.values())))
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        allowed = egress.checked_addresses(host, port)
    except (urls.UrlRefused, egress.EgressRefused, ValueError) as exc:
        return dict.fromkeys(urls_by_key, f"egress refused: {exc}")
    allowed_text = {str(ip) for ip in allowed}
    resolve = [pin(host, port, allowed)]
    opened: list[socket.socket] = []    # libcurl keeps a duplicate of each descriptor; ours close after

    def opensocket(_purpose, address):
        family, socktype, protocol, addr = address
        try:
            ip = str(ipaddress.ip_address(addr[0].split("%")[0]))
        except ValueError:
            return pycurl.SOCKET_BAD
        if ip not in allowed_text:
            return pycurl.SOCKET_BAD
        sock = socket.socket(family, socktype, protocol)
        opened.append(sock)
        return sock

    handles = _handles()
    multi = handles.multi
    live: dict[pycurl.Curl, _Transfer] = {}
    queue = deque(checked.items())
    stall = max(1, math.ceil(request.read_timeout))

    def start_more() -> None:
        while queue and len(live) < request.in_flight:
            remaining_ms = int((request.deadline - time.monotonic()) * 1000)
            if remaining_ms <= 50:
                return
            key, url = queue.popleft()
            c = _easy(handles)
            t = _Transfer(key, request.max_bytes, request.budget)
            c.setopt(pycurl.URL, url)
            c.setopt(pycurl.CAINFO, request.ca_certs)
            c.setopt(pycurl.HTTPHEADER, request.headers)
            c.setopt(pycurl.RESOLVE, resolve)
            c.setopt(pycurl.OPENSOCKETFUNCTION, opensocket)
            c.setopt(pycurl.WRITEFUNCTION, t.write)
            c.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, min(int(request.connect_timeout * 1000), remaining_ms)))
            c.setopt(pycurl.TIMEOUT_MS, remaining_ms)
            c.setopt(pycurl.LOW_SPEED_TIME, stall)     # no byte for the read timeout: the read fails
            multi.add_handle(c)
            live[c] = t

    def finish(c: pycurl.Curl, result: bytes | str) -> None:
        out[live.pop(c).key] = result
        multi.remove_handle(c)
        _idle(c)
        handles.idle.append(c)

    try:
        start_more()
        while live:
            ret, _running = multi.perform()
            while ret == pycurl.E_CALL_MULTI_PERFORM:
                ret, _running = multi.perform()
            while True:
                queued, done, failed = multi.info_read()
                for c in done:
                    status = c.getinfo(pycurl.RESPONSE_CODE)
                    finish(c, live[c].body.getvalue() if status == 200 else f"HTTP {status}")
                for c, _errno, message in failed:
                    finish(c, live[c].refused or f"transfer failed: {message}")
                if not queued:
                    break
            start_more()
            remaining = request.deadline - time.monotonic()
            if not live or remaining <= 0:
                break
            # libcurl says how long it may wait before it must run again (curl_multi_timeout), even
            # with no socket ready: a connection's next step can be due on a timer alone.
            due_ms = multi.timeout()
            wait = min(1.0, remaining) if due_ms < 0 else min(due_ms / 1000, remaining)
            if wait > 0:
                _wait(multi, wait)
    finally:
        for c in list(live):
            finish(c, "did not finish before the deadline")
        for key, _url in queue:
            out[key] = "not started before the deadline"
        for sock in opened:
            sock.close()
    return out
