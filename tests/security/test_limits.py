"""Resource limits and their errors (standards.md §8.12, §8.15; CC-54): per-client rate limit with
429 + Retry-After + OperationOutcome, shared by every process on the database or Redis; body,
prefetch, draft-order and nesting bounds with specific 4xx; the CORS allowlist (never ``*``)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import replace

import pytest

from cds_service import clients, state
from cds_service.app import create_app
from cds_service.config import ConfigError, Settings
from cds_service.security import ratelimit
from tests.support import jwt as tjwt
from tests.support.cds_caller import Caller
from tests.support.hook_requests import ISS, SIGN, full_prefetch, hook_body
from tests.support.redis_server import redis_server
from tests.support.serve_harness import painpa_service

ORIGIN = "https://sandbox.cds-hooks.org"


def _oo(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


@pytest.fixture
def limited(app, es_key):
    small = create_app(replace(state.of(app).settings, rate_limit_per_minute=3,
                               cors_origins=(ORIGIN,)))
    clients.add_client(state.of(small).db, iss=ISS, jwks=tjwt.jwks(es_key), fhir_bases=["https://e.example/fhir"])
    clients.add_client(state.of(small).db, iss="https://other-ehr.example", jwks=tjwt.jwks(es_key),
                       fhir_bases=["https://o.example/fhir"])
    yield small
    state.of(small).db.dispose()


def test_rate_limit_429_with_retry_after_and_outcome_per_client(limited, es_key):
    caller = Caller(limited, es_key)
    statuses = [caller.post(SIGN, hook_body(prefetch=full_prefetch())).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    over = caller.post(SIGN, hook_body(prefetch=full_prefetch()))
    issue = _oo(over, 429)
    assert issue["code"] == "throttled" and "per minute" in issue["diagnostics"]
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert caller.feedback(SIGN, {"feedback": []}).status_code == 429  # feedback spends the same budget
    other = caller.post(SIGN, hook_body(prefetch=full_prefetch()), iss="https://other-ehr.example")
    assert other.status_code == 200  # another client has its own budget


def test_unauthenticated_calls_do_not_spend_a_clients_budget(limited, es_key):
    caller = Caller(limited, es_key)
    forged = tjwt.make_key("ES384")
    for _ in range(5):
        assert caller.post(SIGN, {}, key=forged).status_code == 401
    assert caller.post(SIGN, hook_body(prefetch=full_prefetch())).status_code == 200


@pytest.fixture
def no_purge(monkeypatch):
    """These tests count at a fixed past time, whose rows a 1 % opportunistic purge of expired
    counters may delete between two hits (a flake seen once in ~100 runs)."""
    monkeypatch.setattr(ratelimit, "PURGE_PROBABILITY", 0.0)


def test_window_counter_is_in_the_shared_database(app, no_purge):
    db = state.of(app).db
    first, _ = ratelimit.hit(db, "iss-x", now=1_000_000.0)
    second, retry = ratelimit.hit(db, "iss-x", now=1_000_010.0)
    fresh, _ = ratelimit.hit(db, "iss-x", now=1_000_100.0)
    assert (first, second, fresh) == (1, 2, 1) and 0 < retry <= 60


class _DeadRedis:
    """A Redis client whose every command fails as a refused connection would; counts the tries."""

    def __init__(self) -> None:
        self.tries = 0

    def pipeline(self):
        return self

    def incr(self, _name):
        return self

    def expire(self, _name, _ttl):
        return self

    def execute(self):
        self.tries += 1
        raise ConnectionError("refused")


def test_rate_counter_falls_back_to_the_database_and_stops_trying_a_dead_redis(app, no_purge):
    from cds_service.shared import RedisCache

    db, dead = state.of(app).db, _DeadRedis()
    cache = RedisCache(dead)
    counts = [ratelimit.hit(db, "iss-r", shared_cache=cache, now=2_000_000.0 + n)[0] for n in range(3)]
    assert counts == [1, 2, 3]          # still counted, in the shared database
    assert dead.tries == 1              # circuit breaker: one failed try, not one connect timeout per call


@pytest.mark.parametrize(("mutate", "status", "where"), [
    (lambda b: b.update(prefetch={f"k{i}": {"resourceType": "Bundle", "entry": [{}] * 400} for i in range(20)}),
     413, "prefetch"),
    (lambda b: b["context"]["draftOrders"].update(entry=b["context"]["draftOrders"]["entry"] * 51), 413,
     "context.draftOrders"),
    (lambda b: b["context"].update(deep=json.loads("[" * 60 + "]" * 60)), 400, None),
])
def test_body_bounds_answer_specific_errors(caller, mutate, status, where):
    body = hook_body(prefetch=full_prefetch())
    mutate(body)
    issue = _oo(caller.post(SIGN, body), status)
    if where:
        assert issue["expression"] == [where]


def test_json_nesting_bomb_is_400_not_500(caller):
    assert _oo(caller.post(SIGN, b"[" * 200_000), 400)["code"] == "invalid"
    assert _oo(caller.feedback(SIGN, b"{\"feedback\":" + b"[" * 200_000), 400)["code"] == "invalid"


def test_body_over_the_limit_is_413(app, es_key):
    small = create_app(replace(state.of(app).settings, max_request_bytes=4096))
    clients.add_client(state.of(small).db, iss=ISS, jwks=tjwt.jwks(es_key), fhir_bases=["https://e.example/fhir"])
    _oo(Caller(small, es_key).post(SIGN, hook_body(prefetch=full_prefetch())), 413)


def test_cc54_cors_allowlist_preflight_and_errors(limited):
    http = limited.test_client()
    pre = http.options(f"/cds-services/{SIGN}", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert pre.status_code < 300 and pre.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in pre.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in pre.headers
    denied = http.options(f"/cds-services/{SIGN}", headers={"Origin": "https://evil.example",
                                                              "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in denied.headers
    err = http.post(f"/cds-services/{SIGN}", json={}, headers={"Origin": ORIGIN})  # a browser reads its 401
    assert err.status_code == 401 and err.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert err.headers.get("Access-Control-Allow-Origin") != "*"


def test_cors_wildcard_is_refused_at_start_up():
    with pytest.raises(ConfigError, match=r"\*"):
        Settings.from_env(env={"PAINPA_CORS_ORIGINS": "https://a.example,*"})


def _two_processes_share_a_budget(tmp_path, env: dict) -> list[int]:
    """Two ``painpa serve`` processes (2 workers each) on one database: 12 calls, limit 10."""
    home = tmp_path / "shared-home"
    with ExitStack() as stack:
        a = stack.enter_context(painpa_service(["https://e.example/fhir"], home=home,
                                               env={"PAINPA_RATE_LIMIT": "10", **env}))
        b = stack.enter_context(painpa_service(["https://e.example/fhir"], home=home,
                                               env={"PAINPA_RATE_LIMIT": "10", **env}))
        b.key = a.key = _reregister(a)
        statuses = []
        for i in range(12):
            svc = (a, b)[i % 2]
            statuses.append(svc.post(SIGN, hook_body(prefetch=full_prefetch())).status_code)
    return statuses


def _reregister(svc):
    """Both services share the home (and database): register one key they both accept."""
    key = tjwt.make_key("ES384")
    (svc.home / "client-jwks.json").write_text(json.dumps(tjwt.jwks(key)))
    from tests.support.serve_harness import ISS as HISS
    from tests.support.serve_harness import painpa_cli

    out = painpa_cli(svc.extra_env, "clients", "add", "--iss", HISS, "--jwks-file", str(svc.home / "client-jwks.json"),
                     "--fhir-base", "https://e.example/fhir", "--replace")
    assert out.returncode == 0, out.stderr
    return key


def test_rate_limit_is_shared_across_processes_on_the_database(tmp_path):
    statuses = _two_processes_share_a_budget(tmp_path, {})
    assert statuses.count(429) == 2 and statuses[:10].count(200) == 10, statuses


@pytest.mark.slow
def test_rate_limit_is_shared_across_processes_on_redis(tmp_path):
    with redis_server(tmp_path / "redis-data") as redis_url:
        port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        statuses = _two_processes_share_a_budget(tmp_path, {"PAINPA_REDIS_URL": redis_url})
        assert statuses.count(429) == 2, statuses
        import redis as redis_lib

        keys = redis_lib.Redis(port=port).keys("painpa:rate:*")
        assert keys and int(redis_lib.Redis(port=port).get(keys[0])) == 12  # counted in Redis, not the DB
