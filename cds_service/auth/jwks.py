"""Public keys of a registered client (CDS Hooks 2.0 §Trusting CDS Clients; standards.md §8.4–8.5).

Keys come from the JWK Set stored at registration or from the registered JWKS URL, fetched with no
redirects and short timeouts and cached per URL. An unknown ``kid`` triggers one refetch, at most
once per ``REFETCH_INTERVAL_S`` per URL, so a key rotation is picked up without letting an attacker
drive outbound traffic.

The fetch goes through the SSRF egress guard (cds_service.security.egress, a
:func:`cds_service.fhir.client.new_session` session; docs/security.md "Outbound requests"): a URL the
operator registered with an IP literal is reached as registered; a host name must resolve to public
addresses or a network in ``PAINPA_EGRESS_ALLOW_NETWORKS``, cloud metadata never, and the connection
is pinned to the address checked, so DNS rebinding cannot turn it inward. A refusal is a 401 whose
log line names the reason (``JWKS unavailable: egress refused: …``).

The cache is cds_service.shared: in-process by default, Redis when ``PAINPA_REDIS_URL`` is set, in
which case the fetched set and the refetch limit are shared by every worker (one fetch per
deployment, not per worker). It holds public keys only.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache

import requests
from joserfc.jwk import KeySet
from urllib3.exceptions import HTTPError

from cds_service import cpu, shared
from cds_service.clients import ClientInfo, public_jwks
from cds_service.fhir.client import new_session
from cds_service.security.egress import refused_reason

JWKS_TTL_S = 600
REFETCH_INTERVAL_S = 30
MAX_JWKS_BYTES = 64 * 1024

CACHE_NS, FETCH_NS = "jwks", "jwks-fetch"
_session = new_session(pool_size=4)  # guarded; no cookies, proxies or .netrc (fhir.client)


class JwksUnavailable(Exception):
    """The registered JWKS URL could not be read or did not hold a usable key set."""


@lru_cache(maxsize=128)
def _parse(raw: bytes) -> KeySet:
    """Keys from serialized public JWKS (memoised: the same bytes always give the same keys)."""
    return KeySet.import_key_set(json.loads(raw))


def _fetch(url: str, timeout: tuple[float, float]) -> bytes:
    try:
        # Streamed and read to one byte past the cap: a huge answer is refused without being held.
        with cpu.released(), _session.get(url, timeout=timeout, allow_redirects=False, stream=True,
                                          headers={"Accept": "application/json"}) as resp:
            body = resp.raw.read(MAX_JWKS_BYTES + 1, decode_content=True) if resp.status_code == 200 else b""
    except (requests.RequestException, OSError, HTTPError) as exc:
        why = refused_reason(exc)
        raise JwksUnavailable(f"egress refused: {why}" if why else type(exc).__name__) from None
    if resp.status_code != 200 or len(body) > MAX_JWKS_BYTES:
        raise JwksUnavailable(f"HTTP {resp.status_code}" if resp.status_code != 200 else "JWK Set too large")
    try:
        raw = json.dumps(public_jwks(json.loads(body)), sort_keys=True).encode()
        _parse(raw)
    except (ValueError, RecursionError) as exc:
        raise JwksUnavailable(str(exc) or type(exc).__name__) from None
    return raw


def _may_fetch(cache: shared.SharedCache, url_key: str) -> bool:
    """True when no worker fetched this URL in the last REFETCH_INTERVAL_S (claims the slot)."""
    try:
        return cache.add(FETCH_NS, url_key, b"1", REFETCH_INTERVAL_S)
    except shared.CacheUnavailable:  # Redis down: limit per process instead
        return shared.cache_for(None).add(FETCH_NS, url_key, b"1", REFETCH_INTERVAL_S)


def key_set(client: ClientInfo, kid: str | None, timeout: tuple[float, float],
            cache: shared.SharedCache | None = None) -> KeySet:
    """The client's keys; refetch a URL-registered set once when ``kid`` is not in it."""
    if client.jwks is not None:
        return _parse(json.dumps(client.jwks, sort_keys=True).encode())
    url = client.jwks_url
    assert url is not None  # registration guarantees one of the two
    cache = cache or shared.cache_for(None)
    url_key = shared.digest(url)
    raw = cache.get(CACHE_NS, url_key)
    cached = _parse(raw) if raw else None
    if cached is not None and (kid is None or any(k.kid == kid for k in cached.keys)):
        return cached
    if not _may_fetch(cache, url_key):
        if cached is None:  # another worker or thread is fetching it right now: wait for its result
            deadline = time.monotonic() + sum(timeout)
            with cpu.released():   # the fetching thread may be in this process and need the slot back
                while raw is None and time.monotonic() < deadline and cache.get(FETCH_NS, url_key) != b"failed":
                    time.sleep(0.05)
                    raw = cache.get(CACHE_NS, url_key)
            if raw is None:
                raise JwksUnavailable("refetch rate-limited")
            return _parse(raw)
        return cached
    try:
        raw = _fetch(url, timeout)
    except JwksUnavailable:
        cache.set(FETCH_NS, url_key, b"failed", REFETCH_INTERVAL_S)  # waiters stop waiting
        raise
    cache.set(CACHE_NS, url_key, raw, JWKS_TTL_S)
    return _parse(raw)


def clear_cache() -> None:
    shared.clear(CACHE_NS)
    shared.clear(FETCH_NS)
    _parse.cache_clear()
