"""JWT hardening beyond the basic checks of tests/cds/test_auth.py (CDS Hooks 2.0 §Trusting CDS
Clients; standards.md §8.4–8.8; CC-11, CC-12, CC-15, CC-16): one rate-limited JWKS refetch on an
unknown ``kid`` (key rotation picked up, no refetch storm), clock-skew leeway on ``iat``/``nbf``,
every refusal a bare 401, and the ``jti`` replay cache shared by workers (SQLite, PostgreSQL and
Redis, with ``painpa serve`` running 2 gunicorn workers)."""

from __future__ import annotations

import base64
import time

import pytest
import requests

from cds_service import clients, shared, state
from cds_service.auth import jwks as jwks_cache
from tests.support import jwt as tjwt
from tests.support.hook_requests import ISS, SIGN
from tests.support.redis_server import redis_server
from tests.support.serve_harness import ISS as HISS
from tests.support.serve_harness import painpa_service

PASSED = 400  # authenticated; the empty body is then refused as a bad request
URL_ISS = "https://rotating-ehr.example"


def _bare_401(resp) -> None:
    assert resp.status_code == 401
    assert resp.get_json() == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "login", "diagnostics": "Unauthorized"}]}


def test_unknown_kid_triggers_one_rate_limited_refetch_then_rotation_is_picked_up(app, caller, settings, jwks_host):
    old, new = tjwt.make_key("ES384"), tjwt.make_key("ES384")
    jwks_host.keys = tjwt.jwks(old)
    clients.add_client(state.of(app).db, iss=URL_ISS, jwks_url=jwks_host.url,
                       fhir_bases=["https://rot.example/fhir"])
    aud = f"{settings.base_url}/cds-services/{SIGN}"
    assert caller.post(SIGN, {}, token=tjwt.sign(old, URL_ISS, aud)).status_code == PASSED
    assert len(jwks_host.hits) == 1
    # The EHR rotates to a new key; an attacker can also send unknown kids: neither may cause a fetch
    # storm. Within the refetch interval, unknown kids are refused from cache.
    jwks_host.keys = tjwt.jwks(new)
    for _ in range(5):
        _bare_401(caller.post(SIGN, {}, token=tjwt.sign(new, URL_ISS, aud)))
    assert len(jwks_host.hits) == 1
    # Once the interval has passed, one unknown kid causes exactly one refetch and the new key works.
    shared.clear(jwks_cache.FETCH_NS)  # the refetch slots expire after REFETCH_INTERVAL_S
    assert caller.post(SIGN, {}, token=tjwt.sign(new, URL_ISS, aud)).status_code == PASSED
    assert caller.post(SIGN, {}, token=tjwt.sign(new, URL_ISS, aud)).status_code == PASSED
    assert len(jwks_host.hits) == 2


@pytest.mark.parametrize(("claim", "offset", "accepted"), [
    ("iat", +30, True),          # EHR clock 30 s ahead: within the 60 s leeway
    ("iat", +300, False),
    ("nbf", +30, True),
    ("nbf", +300, False),
    ("exp", -30, True),
    ("exp", -120, False),
])
def test_clock_skew_leeway(caller, claim, offset, accepted):
    resp = caller.post(SIGN, {}, **{claim: int(time.time()) + offset})
    if accepted:
        assert resp.status_code == PASSED
    else:
        _bare_401(resp)


@pytest.mark.parametrize("case", ["jti-not-string", "aud-list-without-us", "kid-of-nobody", "garbage", "typ-jwe", "iss-int",
                                  "nested-payload"])
def test_every_refusal_is_a_bare_401(caller, settings, case):
    aud = f"{settings.base_url}/cds-services/{SIGN}"
    tokens = {
        "jti-not-string": lambda: tjwt.sign(caller.key, ISS, aud, jti=12345),
        "aud-list-without-us": lambda: tjwt.sign(caller.key, ISS, ["https://a.example", "https://b.example"]),
        "kid-of-nobody": lambda: tjwt.sign(caller.key, ISS, aud, header={"kid": "nobody"}),
        "garbage": lambda: "not.a.jwt",
        "typ-jwe": lambda: tjwt.sign(caller.key, ISS, aud, header={"typ": "JWE"}),
        "iss-int": lambda: tjwt.sign(caller.key, 42, aud),
        # ~8 kB, under the size limit: a payload of nested arrays deeper than the JSON parser recurses
        "nested-payload": lambda: "eyJhbGciOiJFUzM4NCJ9." + base64.urlsafe_b64encode(b"[" * 6000).decode().rstrip("=")
                                  + ".c2ln",
    }
    _bare_401(caller.post(SIGN, {}, token=tokens[case]()))


def _replay_through_workers(svc) -> list[int]:
    """One token sent 6 times on fresh connections: whichever worker answers, only the first passes."""
    url = svc.url(SIGN)
    token = tjwt.sign(svc.key, HISS, url)
    return [requests.post(url, json={}, headers=tjwt.bearer(token), timeout=10).status_code for _ in range(6)]


@pytest.mark.postgres
def test_cc16_replay_refused_across_two_workers_on_postgresql(tmp_path, postgres_url):
    with painpa_service(["https://e.example/fhir"], home=tmp_path / "pg", database_url=postgres_url) as svc:
        assert _replay_through_workers(svc) == [PASSED] + [401] * 5


@pytest.mark.slow
def test_cc16_replay_refused_across_two_workers_on_redis(tmp_path):
    with redis_server(tmp_path / "redis-data") as redis_url:
        port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        with painpa_service(["https://e.example/fhir"], home=tmp_path / "redis",
                            env={"PAINPA_REDIS_URL": redis_url}) as svc:
            assert _replay_through_workers(svc) == [PASSED] + [401] * 5
        import redis as redis_lib

        # The replay record is the database's: a cache would forget it on restart (auth/replay.py).
        assert not redis_lib.Redis(port=port).keys("painpa:jti:*")
