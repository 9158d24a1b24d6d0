"""Fixtures of the security suites: a socket that must never be connected to, and a resolver that
answers chosen names with chosen addresses. The in-process app, registered client, keys and fixture
FHIR server are the ones the CDS protocol tests use (tests/support/cds_fixtures.py), so that both
suites test the same setup."""

from __future__ import annotations

import socket

import pytest

from cds_service.security import egress
from tests.support.sentinel import Sentinel


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
