"""Outbound URLs are checked in their normal form (RFC 3986 §5.2.4 dot-segment removal, §6.2.2
syntax-based normalisation; docs/security.md §2.2; CC-27..CC-29, CC-62): a ``next`` link or a
``fhirServer`` whose text starts with the registered base but whose dot segments, plain or
percent-encoded, lead out of it never receives the EHR's bearer token.

Reproductions from an attack run: a FHIR server answering ``"next": "<base>/../../../admin/X"``
(urllib3 resolved the dots after a text check and sent the token to ``/admin/X`` on the same
origin), and ``fhirServer=http://127.0.0.1:P/fhir/%2e%2e/%2e%2e/admin``, which passed the
registered-base check.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from cds_service.clients import ClientError, normalize_base
from cds_service.fhir import curl
from cds_service.fhir.client import new_pool, new_session
from cds_service.security import urls
from tests.support.hook_requests import hook_body
from tests.support.serve_harness import ACCESS_TOKEN, SIGN, hostile_fhir, painpa_service

BASE = "https://ehr.example/fhir"
SEGMENT = st.sampled_from(["..", ".", "%2e%2e", "%2E.", ".%2e", "%2e", "Patient", "fhir", "admin", ""])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with hostile_fhir() as fhir, painpa_service([fhir.base], home=tmp_path_factory.mktemp("urls")) as svc:
        yield fhir, svc


@pytest.mark.parametrize("escape", ["{base}/../../../admin/X", "{base}/%2e%2e/%2E%2e/admin/X",
                                    "{base}/Observation/../../../admin/X?page=2"])
def test_next_link_that_leaves_the_base_is_not_followed(stack, escape):
    fhir, svc = stack
    fhir.mode("escape_next", target=escape)
    token = f"{ACCESS_TOKEN}-{uuid.uuid4().hex}"
    resp = svc.post(SIGN, hook_body(fhir_server=fhir.base, token=token))
    assert resp.status_code == 200
    asked = [entry["path"] for entry in fhir.log()]
    assert any(p.startswith("/fhir/") for p in asked), "the FHIR server was not read at all"
    assert not [p for p in asked if not p.startswith("/fhir/")], asked  # /admin never saw the token


@pytest.mark.parametrize("fhir_server", ["{root}/fhir/%2e%2e/%2e%2e/admin", "{root}/fhir/%2E%2E/admin",
                                         "{root}/fhir/../admin", "{root}/fhir/.%2e/admin"])
def test_fhir_server_with_dot_segments_is_refused_400(stack, fhir_server):
    fhir, svc = stack
    fhir.mode("ok")
    resp = svc.post(SIGN, hook_body(fhir_server=fhir_server.format(root=fhir.root),
                                    token=f"{ACCESS_TOKEN}-{uuid.uuid4().hex}"))
    assert resp.status_code == 400
    assert resp.json()["issue"][0]["expression"] == ["fhirServer"]
    assert fhir.log() == []  # refused before any outbound byte


def test_registration_refuses_encoded_dot_segments():
    with pytest.raises(ClientError, match="dot segments"):
        normalize_base("https://ehr.example/fhir/%2e%2e/admin")
    assert normalize_base("HTTPS://EHR.Example:443/fhir/") == "https://ehr.example/fhir"


@pytest.mark.parametrize("url", ["https://ehr.example/fhir/%2e%2e/admin", "https://ehr.example/fhir/.%2E/admin",
                                 "https://ehr.example/fhir/Patient%2f..%2fadmin"])
def test_every_guarded_transport_refuses_encoded_dot_segments(url):
    """The transports' own gate, whatever code built the URL: nothing is sent. (A plain ``..`` is
    resolved by requests while it prepares the request, before any transport sees it; the base
    checks, :func:`urls.under`, are what refuse it there.)"""
    with pytest.raises(requests.exceptions.InvalidURL, match="egress refused"):
        new_session().get(url, timeout=1)
    with pytest.raises(urllib3.exceptions.LocationValueError, match="egress refused"):
        new_pool(1).urlopen("GET", url, retries=False)
    assert _round_of_reads(url).startswith("egress refused")


def test_the_urllib3_pool_and_a_round_of_reads_refuse_plain_dot_segments_too():
    with pytest.raises(urllib3.exceptions.LocationValueError, match="egress refused"):
        new_pool(1).urlopen("GET", "https://ehr.example/fhir/../admin", retries=False)
    assert _round_of_reads("https://ehr.example/fhir/../admin").startswith("egress refused")


def _round_of_reads(url: str) -> bytes | str:
    """``url`` read as one GET of a hook call's round (libcurl, cds_service/fhir/curl.py)."""
    request = curl.Request(headers=[], max_bytes=1024, budget=None, connect_timeout=1.0, read_timeout=1.0,
                           deadline=time.monotonic() + 2, in_flight=1)
    return curl.get_all({"k": url}, request)["k"]


@given(st.lists(SEGMENT, max_size=8), st.sampled_from([BASE, "HTTPS://EHR.Example:443/fhir"]))
def test_under_never_returns_a_url_outside_the_base(segments, prefix):
    url = prefix + "/" + "/".join(segments)
    checked = urls.under(url, BASE)
    if checked is not None:
        assert checked == BASE or checked.startswith(BASE + "/")
        assert not urls.has_dot_segments(checked)
        assert urls.sendable(checked) == checked  # what was checked is what a transport sends


def test_canonical_form():
    assert urls.canonical("HTTP://Ehr.Example:80/fhir/a/./b/../c?x=1#frag") == "http://ehr.example/fhir/a/c?x=1"
    for bad in ("https://u:p@ehr.example/fhir", "https://ehr.example\\@evil/fhir", "ftp://ehr.example/x",
                "https://ehr.example/fhir/a%2Fb", "https://ehr.example/fh ir"):
        with pytest.raises(urls.UrlRefused):
            urls.canonical(bad)
