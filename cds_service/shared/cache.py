"""Caches shared by the workers of a deployment (docs/deploy.md "Horizontal scaling"; standards.md §7
budget: "verify the JWT and read JWKS from cache", "cache per (tenant, patient, ordering
organization) the results from order-select, for reuse in order-sign").

Two backends with one small interface of byte values with a per-entry TTL:

- :class:`LocalCache` (default): a ``cachetools.TLRUCache`` in this process. Right for one worker,
  and for caches where a per-worker miss only costs time (JWKS, the order-select → order-sign warm
  cache).
- :class:`RedisCache` (``PAINPA_REDIS_URL`` set): one Redis for every worker on every host. ``add``
  is ``SET NX PX``, atomic across workers (the JWKS refetch limit). Never the jti replay record: a
  cache forgets on restart (cds_service/auth/replay.py keeps it in the database).

Values are bytes (callers store JSON); nothing is ever unpickled from Redis. Keys are namespaced
(``painpa:<namespace>:<key>``) and callers hash anything sensitive into the key (tokens, patient
ids). A Redis error is a miss for ``get``, a no-op for ``set``, and raises :class:`CacheUnavailable`
from ``add`` so the caller can fall back to its durable store rather than accept a replay.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Protocol

from cachetools import TLRUCache

from cds_service import metrics

PREFIX = "painpa"


class CacheUnavailable(Exception):
    """The shared backend could not answer an operation whose result matters (``add``)."""


class SharedCache(Protocol):
    shared: bool  # True when every worker sees the same entries

    def get(self, namespace: str, key: str) -> bytes | None: ...
    def set(self, namespace: str, key: str, value: bytes, ttl_s: float) -> None: ...
    def add(self, namespace: str, key: str, value: bytes, ttl_s: float) -> bool: ...
    def delete(self, namespace: str, key: str) -> None: ...
    def clear(self, namespace: str) -> None: ...


def _ttu(_key, value: tuple[float, bytes], now: float) -> float:
    return value[0]


class LocalCache:
    """In-process TTL cache (thread-safe), bounded by entry count and by total value bytes."""

    shared = False

    def __init__(self, maxsize: int = 4096, max_bytes: int = 256 * 2**20) -> None:
        self._data: TLRUCache = TLRUCache(maxsize=maxsize, ttu=_ttu, timer=time.monotonic)
        self._lock = threading.Lock()
        self._max_bytes = max_bytes
        self._bytes = 0

    def _expire(self) -> None:
        self._data.expire()
        self._bytes = sum(len(v[1]) for v in self._data.values())

    def get(self, namespace: str, key: str) -> bytes | None:
        with self._lock:
            hit = self._data.get((namespace, key))
        return hit[1] if hit is not None else None

    def set(self, namespace: str, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self._max_bytes:
            return
        with self._lock:
            if self._bytes + len(value) > self._max_bytes:
                self._expire()
                while self._data and self._bytes + len(value) > self._max_bytes:
                    _, old = self._data.popitem()
                    self._bytes -= len(old[1])
            old = self._data.get((namespace, key))
            if old is not None:
                self._bytes -= len(old[1])
            self._data[(namespace, key)] = (time.monotonic() + ttl_s, value)
            self._bytes += len(value)

    def add(self, namespace: str, key: str, value: bytes, ttl_s: float) -> bool:
        with self._lock:
            if (namespace, key) in self._data:
                return False
            self._data[(namespace, key)] = (time.monotonic() + ttl_s, value)
            self._bytes += len(value)
            return True

    def delete(self, namespace: str, key: str) -> None:
        with self._lock:
            old = self._data.pop((namespace, key), None)
            if old is not None:
                self._bytes -= len(old[1])

    def clear(self, namespace: str) -> None:
        with self._lock:
            for k in [k for k in self._data if k[0] == namespace]:
                self._bytes -= len(self._data.pop(k)[1])


class RedisCache:
    """Redis-backed cache shared by all workers and hosts. After a failure the backend is skipped
    for ``backoff_s`` (a circuit breaker), so a Redis outage costs one connect timeout per
    ``backoff_s`` per process rather than one per call."""

    shared = True

    def __init__(self, client, backoff_s: float = 5.0) -> None:
        self._r = client
        self._backoff_s = backoff_s
        self._down_until = 0.0

    @staticmethod
    def _k(namespace: str, key: str) -> str:
        return f"{PREFIX}:{namespace}:{key}"

    def _call(self, fn, *args, **kwargs):
        if time.monotonic() < self._down_until:
            raise CacheUnavailable("Redis recently failed")
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any client error means "unavailable"
            metrics.dependency_error("redis")
            self._down_until = time.monotonic() + self._backoff_s
            raise CacheUnavailable(type(exc).__name__) from None

    def get(self, namespace: str, key: str) -> bytes | None:
        try:
            return self._call(self._r.get, self._k(namespace, key))
        except CacheUnavailable:  # a cache that cannot answer is a miss
            return None

    def set(self, namespace: str, key: str, value: bytes, ttl_s: float) -> None:
        with contextlib.suppress(CacheUnavailable):  # a lost cache write only costs a later miss
            self._call(self._r.set, self._k(namespace, key), value, px=max(1, int(ttl_s * 1000)))

    def add(self, namespace: str, key: str, value: bytes, ttl_s: float) -> bool:
        """Raises CacheUnavailable: the caller decides (fall back to its durable store, or refuse)."""
        return bool(self._call(self._r.set, self._k(namespace, key), value, px=max(1, int(ttl_s * 1000)), nx=True))

    def incr(self, namespace: str, key: str, ttl_s: float) -> int:
        """Atomic counter, kept ``ttl_s``; raises CacheUnavailable (the caller decides)."""
        name = self._k(namespace, key)

        def count() -> int:
            pipe = self._r.pipeline()
            pipe.incr(name)
            pipe.expire(name, max(1, int(ttl_s)))
            return int(pipe.execute()[0])

        return self._call(count)

    def delete(self, namespace: str, key: str) -> None:
        with contextlib.suppress(CacheUnavailable):  # entries expire anyway
            self._call(self._r.delete, self._k(namespace, key))

    def clear(self, namespace: str) -> None:
        with contextlib.suppress(CacheUnavailable):
            keys = self._call(lambda: list(self._r.scan_iter(match=f"{PREFIX}:{namespace}:*", count=500)))
            if keys:
                self._call(self._r.delete, *keys)
