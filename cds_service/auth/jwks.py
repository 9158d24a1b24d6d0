"""Public keys of a registered client (CDS Hooks 2.0 §Trusting CDS Clients; standards.md §8.4–8.5).

Keys come from the JWK Set stored at registration or from the registered JWKS URL, fetched with
``requests`` (no redirects, short timeouts) and cached per URL. An unknown ``kid`` triggers one
refetch, at most once per ``REFETCH_INTERVAL_S`` per URL, so a key rotation is picked up without
letting an attacker drive outbound traffic.
"""

from __future__ import annotations

import threading
import time

import requests
from cachetools import TTLCache
from joserfc.jwk import KeySet

from cds_service.clients import ClientInfo, public_jwks

JWKS_TTL_S = 600
REFETCH_INTERVAL_S = 30
MAX_JWKS_BYTES = 64 * 1024

_cache: TTLCache[str, KeySet] = TTLCache(maxsize=256, ttl=JWKS_TTL_S)
_last_fetch: dict[str, float] = {}
_lock = threading.Lock()


class JwksUnavailable(Exception):
    """The registered JWKS URL could not be read or did not hold a usable key set."""


def _fetch(url: str, timeout: tuple[float, float]) -> KeySet:
    try:
        resp = requests.get(url, timeout=timeout, allow_redirects=False, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise JwksUnavailable(type(exc).__name__) from None
    if resp.status_code != 200 or len(resp.content) > MAX_JWKS_BYTES:
        raise JwksUnavailable(f"HTTP {resp.status_code}")
    try:
        return KeySet.import_key_set(public_jwks(resp.json()))
    except ValueError as exc:
        raise JwksUnavailable(str(exc)) from None


def key_set(client: ClientInfo, kid: str | None, timeout: tuple[float, float]) -> KeySet:
    """The client's keys; refetch a URL-registered set once when ``kid`` is not in it."""
    if client.jwks is not None:
        return KeySet.import_key_set(client.jwks)
    url = client.jwks_url
    assert url is not None  # registration guarantees one of the two
    with _lock:
        cached = _cache.get(url)
        known = cached is not None and (kid is None or any(k.kid == kid for k in cached.keys))
        recently = time.monotonic() - _last_fetch.get(url, -1e9) < REFETCH_INTERVAL_S
        if known:
            return cached
        if recently:
            if cached is None:
                raise JwksUnavailable("refetch rate-limited")
            return cached
        _last_fetch[url] = time.monotonic()
    fresh = _fetch(url, timeout)
    with _lock:
        _cache[url] = fresh
    return fresh


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _last_fetch.clear()
