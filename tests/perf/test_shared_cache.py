"""The shared-cache abstraction (cds_service/shared): the same behaviour from the in-process cache
and from Redis, and the one difference that matters (first-writer-wins shared across processes)."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from cds_service import shared
from cds_service.shared import CacheUnavailable, LocalCache, RedisCache
from tests.support.procs import free_port


@pytest.fixture(params=["local", "redis"])
def cache(request):
    if request.param == "local":
        return LocalCache()
    url = request.getfixturevalue("redis_url")
    c = shared.cache_for(url)
    for ns in ("t", "jti"):
        c.clear(ns)
    return c


def test_get_set_round_trip_and_namespaces(cache):
    cache.set("t", "k", b"value", 30)
    assert cache.get("t", "k") == b"value"
    assert cache.get("other", "k") is None
    cache.delete("t", "k")
    assert cache.get("t", "k") is None


def test_entries_expire(cache):
    cache.set("t", "short", b"x", 0.05)
    cache.set("t", "long", b"y", 30)
    time.sleep(0.15)
    assert cache.get("t", "short") is None
    assert cache.get("t", "long") == b"y"


def test_add_is_first_writer_wins(cache):
    assert cache.add("t", "once", b"1", 30) is True
    assert cache.add("t", "once", b"2", 30) is False
    assert cache.get("t", "once") == b"1"


def test_json_helpers_and_clear(cache):
    shared.set_json(cache, "t", "doc", {"a": [1, 2]}, 30)
    assert shared.get_json(cache, "t", "doc") == {"a": [1, 2]}
    cache.clear("t")
    assert shared.get_json(cache, "t", "doc") is None


def test_local_cache_is_bounded_by_bytes():
    cache = LocalCache(max_bytes=1000)
    for i in range(10):
        cache.set("t", str(i), b"x" * 300, 30)
    held = sum(1 for i in range(10) if cache.get("t", str(i)) is not None)
    assert 1 <= held <= 3
    assert cache.get("t", "9") == b"x" * 300  # the newest survives


def test_digest_hides_its_parts():
    key = shared.digest("iss", "Patient/123", "secret-token")
    assert "123" not in key and "secret" not in key and len(key) == 64


def _claim(url: str, key: str, out) -> None:
    out.put(shared.cache_for(url).add("t", key, b"1", 60))


def test_redis_add_is_first_writer_wins_across_processes(redis_url):
    """What the JWKS refetch limit relies on (cds_service/auth/jwks.py): one process of many wins."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(redis_url, "shared-key", out)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    results = sorted(out.get(timeout=5) for _ in procs)
    assert results == [False, False, True]


def test_redis_down_is_a_miss_but_add_raises():
    cache = RedisCache(shared.redis_client(f"redis://127.0.0.1:{free_port()}/0"))
    started = time.monotonic()
    cache.set("t", "k", b"v", 30)  # no exception
    assert cache.get("t", "k") is None
    with pytest.raises(CacheUnavailable):
        cache.add("jti", "k", b"1", 30)
    assert time.monotonic() - started < 2  # no retries, and the breaker skips Redis after a failure


def test_cache_for_picks_the_backend(redis_url):
    assert isinstance(shared.cache_for(""), LocalCache) and not shared.cache_for(None).shared
    assert shared.cache_for(redis_url).shared
    assert shared.cache_for(redis_url) is shared.cache_for(redis_url)
