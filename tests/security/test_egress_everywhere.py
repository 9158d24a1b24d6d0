"""Every outbound path goes through the SSRF egress guard, not only the hook's FHIR reads
(standards.md §8.3; CC-27; docs/security.md "Outbound requests"): the registered JWKS URL
(cds_service/auth/jwks.py), SMART discovery and the token request (smart_app/discovery.py,
smart_app/oauth.py), and the PAS ClaimResponse import (cds_service/denials/pas_import.py).

For each path: (a) a registered host NAME that resolves to loopback is refused and a listening
loopback socket sees no connection; (b) a name that first resolves to an allowed address (127.0.0.2,
listed as an allowed network, where a legitimate server answers) and is then rebound to 127.0.0.1
never reaches the server on 127.0.0.1; (c) a registered loopback IP literal still works (here for
JWKS and the PAS import; the SMART launch against literal ``http://127.0.0.1:PORT`` EHRs is
tests/smart). For SMART also: (d) an endpoint URL that urllib.parse and urllib3 read as different
hosts (a backslash before ``@``, userinfo, whitespace in the host) is refused at launch, or at the
callback when stored earlier, and the loopback server urllib3 would reach sees no connection. Names
are answered by the ``fake_dns`` fixture, as in test_egress.py.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cds_service import clients, state
from cds_service.denials.imports import ImportFailed, import_pas
from cds_service.policy.loader import load_policies
from cds_service.security import egress
from tests.support import jwt as tjwt
from tests.support.hook_requests import SIGN

ALLOWED = "127.0.0.2"  # stands for an address the guard allows (a hospital network in production)
URL_CLIENT = "https://url-client.example"
SMART_ID = "painpa-app"
TOKEN = "pas-import-access-token-5be21f"
SALT = "egress-everywhere-salt"
PASSED = 400  # authenticated; the empty hook body is then refused as a bad request (tests/cds/test_auth.py)


class Host:
    """A threaded loopback HTTP server on a chosen address and port; ``route(request)`` returns
    (status, JSON body). Every answer closes the connection, so each request dials (and, through
    the guard, resolves) afresh: a pooled keep-alive connection cannot stand in for a new one."""

    def __init__(self, address: str, port: int, route) -> None:
        self.hits: list[str] = []

        @Request.application
        def app(request):
            self.hits.append(request.path)
            status, body = route(request)
            return Response(json.dumps(body), status=status, mimetype="application/json",
                            headers={"Connection": "close"})

        self.server = make_server(address, port, app, threaded=True)
        self.port = self.server.server_port
        self.root = f"http://{address}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hosts():
    started: list[Host] = []

    def start(address: str, port: int, route) -> Host:
        started.append(Host(address, port, route))
        return started[-1]

    yield start
    for host in started:
        host.close()


@pytest.fixture
def strict_guard(app, monkeypatch):
    """The production rule (not the sandbox), with ``ALLOWED`` as the one allowed network; set after
    the app factory, which configures the guard from settings."""
    monkeypatch.setattr(egress.policy, "permissive", False)
    monkeypatch.setattr(egress.policy, "allow_networks", (ipaddress.ip_network(f"{ALLOWED}/32"),))
    return egress.policy


def _loopback_only(monkeypatch):
    monkeypatch.setattr(egress.policy, "permissive", False)
    monkeypatch.setattr(egress.policy, "allow_networks", ())


def _hook_call(app, key, jku=None):
    aud = f"{state.of(app).settings.base_url}/cds-services/{SIGN}"
    token = tjwt.sign(key, URL_CLIENT, aud, **({"jku": jku} if jku else {}))
    resp = app.test_client().post(f"/cds-services/{SIGN}", data="{}", headers={
        **tjwt.bearer(token), "Content-Type": "application/json"})
    return resp, token


# --- JWKS URL (cds_service/auth/jwks.py) ----------------------------------------------------------


def test_jwks_url_host_resolving_to_loopback_is_refused_without_connection(app, strict_guard, fake_dns, sentinel,
                                                                          caplog):
    fake_dns["jwks-inward.test"] = ["127.0.0.1"]
    url = f"http://jwks-inward.test:{sentinel.port}/jwks.json"
    clients.add_client(state.of(app).db, iss=URL_CLIENT, jwks_url=url, fhir_bases=["https://ehr2.example/fhir"])
    with caplog.at_level(logging.INFO):
        resp, token = _hook_call(app, tjwt.make_key("ES384"), jku=url)
    assert resp.status_code == 401
    assert not sentinel.touched()
    assert "JWKS unavailable: egress refused: the host resolves to a loopback address" in caplog.text
    assert token not in caplog.text


def test_jwks_url_rebound_to_loopback_never_reaches_it(app, strict_guard, fake_dns, sentinel, hosts, caplog):
    from cds_service.auth import jwks

    key = tjwt.make_key("ES384")
    legit = hosts(ALLOWED, sentinel.port, lambda req: (200, tjwt.jwks(key)))
    fake_dns["jwks-rebind.test"] = [ALLOWED]
    url = f"http://jwks-rebind.test:{sentinel.port}/jwks.json"
    clients.add_client(state.of(app).db, iss=URL_CLIENT, jwks_url=url, fhir_bases=["https://ehr2.example/fhir"])
    assert _hook_call(app, key)[0].status_code == PASSED  # fetched from the allowed address
    assert legit.hits == ["/jwks.json"]

    fake_dns["jwks-rebind.test"] = ["127.0.0.1"]  # the name's short TTL ran out; the answer is now inward
    egress.clear_cache()
    jwks.clear_cache()  # the key set expired too: the next call fetches again
    with caplog.at_level(logging.INFO):
        resp, _ = _hook_call(app, key)
    assert resp.status_code == 401
    assert not sentinel.touched()
    assert legit.hits == ["/jwks.json"]
    assert "egress refused" in caplog.text


def test_jwks_url_registered_as_loopback_literal_still_works(app, strict_guard, hosts):
    key = tjwt.make_key("RS384")
    legit = hosts("127.0.0.1", 0, lambda req: (200, tjwt.jwks(key)))
    clients.add_client(state.of(app).db, iss=URL_CLIENT, jwks_url=f"{legit.root}/jwks.json",
                       fhir_bases=["https://ehr2.example/fhir"])
    assert _hook_call(app, key)[0].status_code == PASSED
    assert legit.hits == ["/jwks.json"]


# --- SMART discovery and token request (smart_app/discovery.py, smart_app/oauth.py) ---------------


def _smart_config(token_endpoint: str) -> dict:
    return {"authorization_endpoint": "https://authorize.example/authorize", "token_endpoint": token_endpoint,
            "code_challenge_methods_supported": ["S256"], "capabilities": ["launch-ehr", "permission-v2"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"]}


def _register_ehr(app, iss: str) -> None:
    clients.add_client(state.of(app).db, iss=f"{iss}/cds-client", jwks=tjwt.jwks(tjwt.make_key("ES384")),
                       fhir_bases=[iss], smart_client_id=SMART_ID)


def _launch(browser, iss: str):
    return browser.get("/smart/launch", query_string={"iss": iss, "launch": "launch-123"})


def test_smart_discovery_of_a_host_resolving_to_loopback_is_refused_without_connection(app, strict_guard, fake_dns,
                                                                                       sentinel):
    fake_dns["ehr-inward.test"] = ["127.0.0.1"]
    iss = f"http://ehr-inward.test:{sentinel.port}/fhir"
    _register_ehr(app, iss)
    resp = _launch(app.test_client(), iss)
    assert resp.status_code == 502
    assert not sentinel.touched()
    assert "loopback address" in resp.get_data(as_text=True)


def test_smart_discovery_rebound_to_loopback_never_reaches_it(app, strict_guard, fake_dns, sentinel, hosts):
    legit = hosts(ALLOWED, sentinel.port, lambda req: (200, _smart_config("/auth/token")))
    fake_dns["ehr-rebind.test"] = [ALLOWED]
    iss = f"http://ehr-rebind.test:{sentinel.port}/fhir"
    _register_ehr(app, iss)
    browser = app.test_client()
    first = _launch(browser, iss)
    assert first.status_code == 302 and first.headers["Location"].startswith("https://authorize.example/")
    assert legit.hits == ["/fhir/.well-known/smart-configuration"]

    fake_dns["ehr-rebind.test"] = ["127.0.0.1"]
    egress.clear_cache()
    second = _launch(browser, iss)
    assert not sentinel.touched()
    assert len(legit.hits) == 1
    assert second.status_code == 502
    assert "loopback address" in second.get_data(as_text=True)


@pytest.mark.parametrize("token_endpoint", [
    "https://token-inward.test:{port}/token",  # a name the EHR chose, resolving to loopback
    "https://127.0.0.1:{port}/token",          # a loopback literal on another origin: the EHR's, not the operator's
    "http://token-public.test/token",          # another origin without TLS
])
def test_smart_token_endpoint_elsewhere_that_is_inward_or_cleartext_is_refused(app, strict_guard, fake_dns, sentinel,
                                                                               hosts, token_endpoint):
    fake_dns["token-inward.test"] = ["127.0.0.1"]
    fake_dns["token-public.test"] = ["93.184.216.34"]
    ehr = hosts("127.0.0.1", 0, lambda req: (200, _smart_config(token_endpoint.format(port=sentinel.port))))
    iss = f"{ehr.root}/fhir"
    _register_ehr(app, iss)
    resp = _launch(app.test_client(), iss)
    assert resp.status_code == 502
    assert "token endpoint" in resp.get_data(as_text=True)
    assert not sentinel.touched()


def test_smart_token_request_rebound_to_loopback_never_reaches_it(app, strict_guard, fake_dns, sentinel, hosts):
    """Discovery saw the token endpoint's name resolve to an allowed address; by the callback the
    name answers loopback: the code and client assertion are not sent there."""
    fake_dns["token-rebind.test"] = [ALLOWED]
    ehr = hosts("127.0.0.1", 0, lambda req: (200, _smart_config(f"https://token-rebind.test:{sentinel.port}/token")))
    iss = f"{ehr.root}/fhir"
    _register_ehr(app, iss)
    browser = app.test_client()
    started = _launch(browser, iss)
    assert started.status_code == 302
    oauth_state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]

    fake_dns["token-rebind.test"] = ["127.0.0.1"]
    egress.clear_cache()
    resp = browser.get("/smart/callback", query_string={"state": oauth_state, "code": "auth-code-from-ehr"})
    assert not sentinel.touched()
    assert resp.status_code == 502
    page = resp.get_data(as_text=True)
    assert "token endpoint" in page and "loopback address" in page


# A URL two parsers read differently: urllib.parse (the checks) finds one host, urllib3 (the
# connection) another. The EHR (iss) is ``ehr-same.test`` on the allowed address, on the sentinel's
# port, so a URL that urllib3 reads as 127.0.0.1:PORT lands on the sentinel.
BACKSLASH = "the URL contains a backslash, whitespace or a control character"
AMBIGUOUS = {
    # urlsplit: tokens.example.com (public, admitted); urllib3: 127.0.0.1 (a literal: "registered")
    "backslash-userinfo": ("token_endpoint", "https://127.0.0.1:{port}\\@tokens.example.com/token", BACKSLASH),
    # the same, on the iss's own origin as urlsplit reads it: took the same-origin shortcut
    "backslash-same-origin": ("token_endpoint", "http://127.0.0.1:{port}\\@ehr-same.test:{port}/token", BACKSLASH),
    "userinfo": ("token_endpoint", "https://127.0.0.1:{port}@tokens.example.com/token",
                 "the URL carries user information (user@host)"),
    # urlsplit drops tabs and newlines silently; urllib3 refuses the host
    "tab-in-host": ("token_endpoint", "https://tok\tens.example.com/token", BACKSLASH),
    "newline-in-host": ("token_endpoint", "https://tok\nens.example.com/token", BACKSLASH),
    "space-in-host": ("token_endpoint", "https://tok ens.example.com/token", BACKSLASH),
    # the browser is sent there (WHATWG URL parsing treats the backslash as a slash)
    "authorize-backslash": ("authorization_endpoint", "https://127.0.0.1:{port}\\@authorize.example/authorize",
                            BACKSLASH),
}


def _ehr_on_allowed_address(hosts, fake_dns, sentinel, config: dict) -> str:
    fake_dns["ehr-same.test"] = [ALLOWED]
    fake_dns["tokens.example.com"] = ["93.184.216.34"]
    fake_dns["tok ens.example.com"] = ["93.184.216.34"]
    hosts(ALLOWED, sentinel.port, lambda req: (200, config))
    return f"http://ehr-same.test:{sentinel.port}/fhir"


@pytest.mark.parametrize("case", list(AMBIGUOUS))
def test_smart_endpoint_read_differently_by_two_url_parsers_is_refused_at_launch(app, strict_guard, fake_dns,
                                                                                 sentinel, hosts, case):
    field, template, reason = AMBIGUOUS[case]
    config = _smart_config(f"http://ehr-same.test:{sentinel.port}/token")
    config[field] = template.format(port=sentinel.port)
    iss = _ehr_on_allowed_address(hosts, fake_dns, sentinel, config)
    _register_ehr(app, iss)
    resp = _launch(app.test_client(), iss)
    assert resp.status_code == 502
    assert f"The EHR&#39;s {field} is refused: {reason}" in resp.get_data(as_text=True)
    assert not sentinel.touched()


@pytest.mark.parametrize("case", ["backslash-userinfo", "backslash-same-origin"])
def test_smart_token_request_to_a_stored_ambiguous_endpoint_never_reaches_loopback(app, strict_guard, fake_dns,
                                                                                   sentinel, hosts, case):
    """A launch (or a session, for refresh) stored before this check with such an endpoint: the
    callback refuses it before sending the code, PKCE verifier and client assertion anywhere."""
    from sqlalchemy import update

    from smart_app.tables import SmartPendingLaunch

    iss = _ehr_on_allowed_address(hosts, fake_dns, sentinel,
                                  _smart_config(f"http://ehr-same.test:{sentinel.port}/token"))
    _register_ehr(app, iss)
    browser = app.test_client()
    started = _launch(browser, iss)
    assert started.status_code == 302
    oauth_state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    with state.of(app).db.session() as s:
        s.execute(update(SmartPendingLaunch).values(token_endpoint=AMBIGUOUS[case][1].format(port=sentinel.port)))

    resp = browser.get("/smart/callback", query_string={"state": oauth_state, "code": "auth-code-from-ehr"})
    assert not sentinel.touched()
    assert resp.status_code == 502
    assert f"token endpoint: {BACKSLASH}" in resp.get_data(as_text=True)


def test_guard_gives_only_the_named_literal_the_registered_pass(strict_guard, sentinel, hosts):
    """``egress.registered_hosts`` (used for the SMART discovery and token requests, with the iss's
    host): inside it another IP literal is judged like a resolved name, so loopback is refused
    without a connection; the named literal still connects."""
    import requests

    from smart_app.discovery import http

    with egress.registered_hosts("ehr-same.test"), pytest.raises(requests.ConnectionError) as refused:
        http.post(f"{sentinel.url}/token", data={"code": "auth-code"}, timeout=(1, 1), allow_redirects=False)
    assert egress.refused_reason(refused.value) == "the host resolves to a loopback address"
    assert not sentinel.touched()

    legit = hosts("127.0.0.1", 0, lambda req: (200, {}))
    with egress.registered_hosts("127.0.0.1"):
        assert http.post(f"{legit.root}/token", timeout=(1, 1), allow_redirects=False).status_code == 200
    assert legit.hits == ["/token"]


# --- PAS ClaimResponse import (cds_service/denials/pas_import.py) ---------------------------------


def _bundle(next_url: str | None) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _register_and_import(app, settings, base: str, **overrides):
    """Register ``base`` as a client's FHIR base, then import its ClaimResponses (settings overridden)."""
    db = state.of(app).db
    clients.add_client(db, iss="https://pas-ehr.example", jwks_url="https://pas-ehr.example/jwks.json",
                       fhir_bases=[base])
    return import_pas(db, base, salt=SALT, settings=replace(settings, **overrides), policies=load_policies(),
                      token=TOKEN)


def test_pas_import_from_a_host_resolving_to_loopback_is_refused_without_connection(app, settings, fake_dns,
                                                                                    sentinel, monkeypatch):
    _loopback_only(monkeypatch)
    fake_dns["pas-inward.test"] = ["127.0.0.1"]
    base = f"http://pas-inward.test:{sentinel.port}/fhir"
    with pytest.raises(ImportFailed) as failed:
        _register_and_import(app, settings, base, fhir_read_timeout_s=0.5)
    assert not sentinel.touched()
    assert re.fullmatch(r"refused to connect to pas-inward\.test:\d+: the host resolves to a loopback address .*",
                        str(failed.value))
    assert TOKEN not in str(failed.value)


def test_pas_import_rebound_mid_import_to_loopback_never_reaches_it(app, settings, strict_guard, fake_dns,
                                                                    sentinel, hosts):
    base = f"http://pas-rebind.test:{sentinel.port}/fhir"

    def route(request):
        # The name's TTL runs out while the first page is served: the next dial resolves inward.
        fake_dns["pas-rebind.test"] = ["127.0.0.1"]
        egress.clear_cache()
        return 200, _bundle(f"{base}/ClaimResponse?page=2")

    legit = hosts(ALLOWED, sentinel.port, route)
    fake_dns["pas-rebind.test"] = [ALLOWED]
    with pytest.raises(ImportFailed) as failed:
        _register_and_import(app, settings, base, fhir_read_timeout_s=0.5)
    assert not sentinel.touched()
    assert legit.hits == ["/fhir/ClaimResponse"]
    assert "refused to connect to" in str(failed.value) and "loopback address" in str(failed.value)


def test_pas_import_from_a_registered_loopback_literal_still_works(app, settings, strict_guard, hosts):
    legit = hosts("127.0.0.1", 0, lambda req: (200, _bundle(None)))
    report = _register_and_import(app, settings, f"{legit.root}/fhir")
    assert (report.added, report.errors) == (0, [])
    assert legit.hits == ["/fhir/ClaimResponse"]
