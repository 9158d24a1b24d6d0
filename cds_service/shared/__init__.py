"""Shared state of a painpa deployment beyond the database: the cache backend every worker uses
(cds_service/shared/cache.py). Workers keep nothing else between calls (docs/deploy.md).

``cache_for(redis_url)`` returns the process-wide cache for a configuration: Redis when
``PAINPA_REDIS_URL`` is set, the in-process cache otherwise. Users: the JWKS cache
(cds_service/auth/jwks.py), the order-select → order-sign warm cache (cds_service/fhir/gather.py)
and the rate-limit counters (cds_service/security/ratelimit.py). Never the jti replay record: a cache
forgets it on restart (cds_service/auth/replay.py).
"""

from __future__ import annotations

import hashlib
import json
import threading

from cds_service.shared.cache import CacheUnavailable, LocalCache, RedisCache, SharedCache

__all__ = ["CacheUnavailable", "LocalCache", "RedisCache", "SharedCache", "cache_for", "clear", "digest", "get_json",
           "redis_client", "set_json"]

_caches: dict[str, SharedCache] = {}
_lock = threading.Lock()


def redis_client(url: str):
    """A Redis client for a cache: short timeouts and no retries, so that a slow or absent cache
    never holds up a hook call for long (standards.md §7 budget)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30,
                                retry=Retry(NoBackoff(), 0))


def cache_for(redis_url: str | None) -> SharedCache:
    """The cache for this process and configuration (one per URL; created on first use, after fork)."""
    key = redis_url or ""
    with _lock:
        cache = _caches.get(key)
        if cache is None:
            cache = RedisCache(redis_client(key)) if key else LocalCache()
            _caches[key] = cache
        return cache


def clear(namespace: str) -> None:
    """Empty ``namespace`` in every cache this process has opened (tests; an operator's reset)."""
    with _lock:
        caches = list(_caches.values())
    for cache in caches:
        cache.clear(namespace)


def digest(*parts: object) -> str:
    """A stable key for ``parts`` that reveals none of them (tokens, patient ids)."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":"), default=str).encode()).hexdigest()


def get_json(cache: SharedCache, namespace: str, key: str):
    raw = cache.get(namespace, key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def set_json(cache: SharedCache, namespace: str, key: str, value, ttl_s: float) -> None:
    cache.set(namespace, key, json.dumps(value, separators=(",", ":")).encode(), ttl_s)
