"""SSRF defences (standards.md §8.3; CC-27, CC-28, CC-29): fhirServer must be under a registered
base, https unless a registered loopback base, and resolve to no loopback / private / link-local /
metadata address unless the operator allowed it; the resolution is pinned at connect time so a
rebinding answer cannot reach a forbidden address, while TLS still checks the URL's host name.
Every refusal is asserted with a listening socket that must see no connection."""

from __future__ import annotations

import ipaddress
import json
import ssl
from dataclasses import replace

import pytest
import requests
import urllib3

from cds_service import clients, state
from cds_service.app import create_app
from cds_service.fhir.client import new_pool, new_session
from cds_service.security import egress
from tests.support.cds_caller import Caller
from tests.support.hook_requests import ISS, SIGN, full_prefetch, hook_body, load

TOKEN = "egress-test-access-token-93c1d7"


def _register(app, *bases: str) -> None:
    from tests.support import jwt as tjwt

    key = app.extensions["test.key"]
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(key), fhir_bases=list(bases))


@pytest.fixture
def keyed(app, es_key):
    app.extensions["test.key"] = es_key
    return app


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("10.2.3.4", "private"), ("192.168.1.9", "private"), ("172.20.0.1", "private"),
    ("169.254.10.10", "link-local"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("fe80::1", "link-local"), ("100.64.0.1", "non-public"), ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
    ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"), ("168.63.129.16", "metadata"),
])
def test_forbidden_ranges_are_named(address, why):
    assert why in egress.refusal(ipaddress.ip_address(address), explicit=False)


def test_public_and_explicit_addresses_pass_but_metadata_never():
    assert egress.refusal(ipaddress.ip_address("93.184.216.34"), explicit=False) is None
    assert egress.refusal(ipaddress.ip_address("127.0.0.1"), explicit=True) is None
    assert "metadata" in egress.refusal(ipaddress.ip_address("169.254.169.254"), explicit=True)


@pytest.mark.parametrize(("answer", "reason"), [
    (["127.0.0.1"], "loopback"), (["169.254.169.254"], "metadata"), (["10.9.8.7"], "private"),
    (["93.184.216.34", "192.168.0.10"], "private"),  # a mixed answer is refused whole
])
def test_cc27_registered_host_resolving_inward_is_refused_without_connection(keyed, caller, fake_dns, sentinel,
                                                                            answer, reason):
    fake_dns["ehr-inward.test"] = answer
    base = f"https://ehr-inward.test:{sentinel.port}/fhir"
    _register(keyed, base)
    resp = caller.post(SIGN, hook_body(fhir_server=base, token=TOKEN))
    assert resp.status_code == 400
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == ["fhirServer"] and reason in issue["diagnostics"]
    assert not sentinel.touched()


def test_cc27_http_scheme_refused_for_a_registered_non_loopback_base(keyed, caller, fake_dns, sentinel):
    fake_dns["plain-http.test"] = ["93.184.216.34"]
    base = "http://plain-http.test/fhir"
    _register(keyed, base)
    resp = caller.post(SIGN, hook_body(fhir_server=base, token=TOKEN))
    assert resp.status_code == 400 and "https" in resp.get_json()["issue"][0]["diagnostics"]


def test_allowed_private_network_is_admitted(settings, fake_dns):
    fake_dns["ehr.hospital.test"] = ["10.20.30.40"]
    allowed = replace(settings, egress_allow_networks=("10.20.0.0/16",))
    egress.configure(allowed)
    try:
        egress.admit_fhir_server("https://ehr.hospital.test/fhir", allowed)
        with pytest.raises(egress.FhirServerRefused):
            fake_dns["ehr2.hospital.test"] = ["10.99.0.1"]
            egress.admit_fhir_server("https://ehr2.hospital.test/fhir", allowed)
    finally:
        egress.configure(settings)


def test_dns_rebinding_is_refused_at_connect_time(fake_dns, sentinel):
    """Admission saw a public address; the connection re-resolves to loopback: refused, no socket."""
    fake_dns["rebind.test"] = ["93.184.216.34"]
    egress.checked_addresses("rebind.test", sentinel.port)  # the view's check passes
    egress.clear_cache()
    fake_dns["rebind.test"] = ["127.0.0.1"]
    with pytest.raises(requests.ConnectionError, match="egress refused"):
        new_session().get(f"http://rebind.test:{sentinel.port}/fhir/Patient/1", timeout=2)
    assert not sentinel.touched()


def test_dns_rebinding_is_refused_at_connect_time_on_the_hook_read_pools(fake_dns, sentinel):
    """The hook's single reads, next pages and batches use urllib3 pools of their own
    (fhir.client.new_pool): the same guard. A round's reads (libcurl): tests/security/test_curl_transport.py."""
    fake_dns["rebind.test"] = ["93.184.216.34"]
    egress.checked_addresses("rebind.test", sentinel.port)
    egress.clear_cache()
    fake_dns["rebind.test"] = ["127.0.0.1"]
    with pytest.raises(egress.RefusedConnection, match="egress refused"):
        new_pool().urlopen("GET", f"http://rebind.test:{sentinel.port}/fhir/Patient/1", retries=False, timeout=2)
    assert not sentinel.touched()


class _Opener:
    """The two guarded transports: the hook's FHIR pools (``new_pool``) and the session every other
    outbound path uses (``new_session``), with a test CA."""

    def __init__(self, kind: str, ca: str) -> None:
        self.kind = kind
        if kind == "hook pools":
            self.pools = new_pool(4, ca_certs=ca)
        else:
            self.session = new_session(4, ca_certs=ca)
            self.pools = self.session.get_adapter("https://").poolmanager

    def get(self, url: str) -> dict:
        if self.kind == "hook pools":
            return json.loads(self.pools.urlopen("GET", url, retries=False, redirect=False, timeout=5).data)
        return self.session.get(url, timeout=5, allow_redirects=False).json()


TRANSPORTS = ["hook pools", "session"]


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_tls_checks_the_url_host_name_while_the_socket_goes_to_the_pinned_address(pinned_tls, kind):
    """The guard connects to the address it checked, not the name; the certificate (and SNI) must
    still be checked against the URL's host name, or any host on that address could take the token."""
    port, ca, sni, seen = pinned_tls
    opener = _Opener(kind, ca)
    assert opener.get(f"https://good.test:{port}/fhir/Patient/p")["id"] == "p"
    with pytest.raises((requests.exceptions.SSLError, urllib3.exceptions.SSLError)):
        opener.get(f"https://other.test:{port}/fhir/Patient/p")
    assert sni == ["good.test", "other.test"]
    assert seen == ["/fhir/Patient/p"]   # the name the certificate does not cover got no request


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_the_ca_bundle_is_read_once_not_per_connection(pinned_tls, kind, monkeypatch):
    """Read per connection it cost ~25 ms of CPU per request against a server that closes its
    connections (bench/RESULTS.md); every handshake must still verify against it."""
    port, ca, sni, _ = pinned_tls
    opener = _Opener(kind, ca)
    loads = []
    real = ssl.SSLContext.load_verify_locations
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations",
                        lambda self, *a, **k: (loads.append(a), real(self, *a, **k)))
    for _ in range(3):
        assert opener.get(f"https://good.test:{port}/fhir/Patient/p")["id"] == "p"
        opener.pools.clear()                  # as if the server had closed the connection
    assert sni == ["good.test"] * 3           # three handshakes, each verified
    assert loads == []


def test_a_host_name_the_resolver_cannot_encode_is_unresolvable_not_a_crash():
    with pytest.raises(egress.Unresolvable):
        egress.resolve("a" * 64 + ".example.org", 443, 1.0)


def test_sentinel_does_see_a_permitted_connection(sentinel):
    """The negative tests above could not fail if the sentinel never saw anything: it does."""
    with pytest.raises(requests.RequestException):
        new_session().get(f"{sentinel.url}/fhir/Patient/1", timeout=0.5)
    assert sentinel.touched()


def test_cc29_absolute_reference_to_another_host_is_never_contacted(caller, fhir, sentinel):
    order = load("orders.json")["esi"]
    order["locationReference"] = [{"reference": f"{sentinel.url}/fhir/Location/elsewhere"}]
    order["performer"] = [{"reference": f"http://localhost:{sentinel.port}/fhir/PractitionerRole/x"}]
    prefetch = full_prefetch()
    prefetch.pop("user", None)
    resp = caller.post(SIGN, hook_body(orders=[order], prefetch=prefetch, fhir_server=fhir.base, token=TOKEN))
    assert resp.status_code == 200
    assert not sentinel.touched()


def test_cc14_unregistered_iss_with_jku_fetches_nothing(app, settings, sentinel):
    from tests.support import jwt as tjwt

    stranger = tjwt.make_key("ES384")
    url = settings.base_url + f"/cds-services/{SIGN}"
    token = tjwt.sign(stranger, "https://stranger.example", url, jku=f"{sentinel.url}/jwks.json")
    resp = app.test_client().post(f"/cds-services/{SIGN}", json={}, headers=tjwt.bearer(token))
    assert resp.status_code == 401
    assert not sentinel.touched()


def test_strict_mode_refuses_even_loopback_http(app, es_key, fhir):
    strict = create_app(replace(state.of(app).settings, allow_insecure_registered=False))
    from tests.support import jwt as tjwt

    clients.add_client(state.of(strict).db, iss=ISS, jwks=tjwt.jwks(es_key), fhir_bases=[fhir.base])
    resp = Caller(strict, es_key).post(SIGN, hook_body(fhir_server=fhir.base, token=TOKEN))
    assert resp.status_code == 400
    assert fhir.log() == []
