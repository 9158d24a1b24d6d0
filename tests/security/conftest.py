"""Fixtures of the security suites: a socket that must never be connected to, a resolver that
answers chosen names with chosen addresses, and an HTTPS server reached by a name pinned to loopback. The in-process app, registered client, keys and fixture
FHIR server are the ones the CDS protocol tests use (tests/support/cds_fixtures.py), so that both
suites test the same setup."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from cds_service.security import egress
from tests.support.sentinel import Sentinel
from tests.support.tls import tls_server


@pytest.fixture
def sentinel():
    s = Sentinel()
    yield s
    s.close()


@pytest.fixture
def fake_dns(monkeypatch):
    """Answer chosen names with chosen addresses (a DNS server cannot run in the test box); every
    other name goes to the real resolver. Returns the mapping to fill: name -> [address, ...]."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.lower() in answers:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port or 0)) for a in answers[host.lower()]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    egress.clear_cache()
    yield answers
    egress.clear_cache()


@pytest.fixture
def pinned_tls(tmp_path, fake_dns, monkeypatch):
    """An HTTPS server on loopback with a certificate for ``good.test`` from a test CA; both
    ``good.test`` and ``other.test`` resolve to it. Yields (port, CA file, SNI names seen, paths seen)."""
    tls = tls_server(tmp_path, "good.test")
    monkeypatch.setattr(egress.policy, "allow_networks", (ipaddress.ip_network("127.0.0.0/8"),))
    fake_dns["good.test"] = fake_dns["other.test"] = ["127.0.0.1"]
    yield tls.port, tls.ca, tls.sni, tls.seen
    tls.close()
