"""The order-select → order-sign warm cache of FHIR answers (CRD foundation "Performance": an
order-sign that follows its order-select within seconds, same patient, user and access token, need
not read the chart again).

Kept in cds_service.shared (in-process, bounded in bytes, or Redis when ``PAINPA_REDIS_URL`` is set),
each entry bound to client, tenant, server, patient, user and a hash of the token. An entry is the
answers' own bytes, as the FHIR server sent them, joined into one JSON object ``{key: [page, ...]}``
and compressed (zlib level 1): serializing the parsed answers again cost more CPU than the rest of
the FHIR path's own work (bench/RESULTS.md, "FHIR path"), and compressed they take ~17× less room,
so the byte bound holds many more calls and the process's memory stays low. Answers that came in
one ``batch`` (cds_service/fhir/batch.py) are kept as that answer's bytes with the keys of its
entries, for the same reason, and split again when loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections.abc import Mapping, Sequence

from cds_service import shared
from cds_service.shared import SharedCache

log = logging.getLogger(__name__)

CACHE_NS = "gather-z"      # not the earlier namespace: its entries were uncompressed JSON
CACHE_TTL_S = 120
BATCH, BATCH_KEYS = "@batch", "@batch-keys"   # never a prefetch key or a "ref:" key
MAX_ENTRY_BYTES = 64 * 2**20   # decompressed: an entry larger than any call may read is not one of ours


def cache_key(scope: Sequence[str | None], fhir_server: str, patient_id: str, user_id: str | None, token: str) -> tuple:
    """Cache entries are bound to client, tenant, server, patient, user and the token itself (hashed)."""
    return (*scope, fhir_server, patient_id, user_id, hashlib.sha256(token.encode()).hexdigest())


def clear() -> None:
    shared.clear(CACHE_NS)


def load(cache: SharedCache, key: tuple) -> dict[str, list[dict]]:
    """The entry for ``key``: pages by prefetch key (or ``ref:Type/id``); empty when none or unreadable."""
    raw = cache.get(CACHE_NS, shared.digest(*key))
    if raw is None:
        return {}
    try:
        inflate = zlib.decompressobj()
        text = inflate.decompress(raw, MAX_ENTRY_BYTES)
        if inflate.unconsumed_tail:
            raise ValueError("entry too large")
        value = json.loads(text)
    except (zlib.error, ValueError, RecursionError) as exc:
        log.info("warm cache entry unreadable (%s): read again", type(exc).__name__)
        return {}
    if not isinstance(value, dict):
        return {}
    if BATCH in value:
        try:
            answer, keys = value.pop(BATCH)[0], value.pop(BATCH_KEYS)[0]
            for k, entry in zip(keys, answer["entry"], strict=True):
                if k is not None and isinstance(value.get(k), list):   # first page from the batch, then the rest
                    value[k] = [entry["resource"], *value[k]]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            log.info("warm cache entry unreadable (batch): read again")
            return {}
    return value


def keep_batch(raw: dict[str, list[bytes]], content: bytes, keys: list[str | None],
               later_pages: Mapping[str, list[dict]]) -> None:
    """Keep a ``batch-response`` (``content``, its bytes) in ``raw`` as :func:`store` takes it: the
    answer once, the key of each of its entries (None: not to keep), and each kept key's pages read
    after the batch (its next pages, serialized: rare). One batch per entry: a call's first round."""
    raw[BATCH], raw[BATCH_KEYS] = [content], [json.dumps(keys).encode()]
    for k in filter(None, keys):
        raw[k] = [json.dumps(p, separators=(",", ":")).encode() for p in later_pages[k]]


def store(cache: SharedCache, key: tuple, cached: Mapping[str, list[dict]], fresh: Mapping[str, list[bytes]],
          ttl_s: float = CACHE_TTL_S) -> None:
    """Keep what this call read (``fresh``: each answer's bytes, pages in order) with what it found
    cached; the bytes are joined, never parsed and serialized again."""
    parts = [json.dumps(k).encode() + b":" + json.dumps(v, separators=(",", ":")).encode()
             for k, v in cached.items() if k not in fresh]
    parts += [json.dumps(k).encode() + b":[" + b",".join(pages) + b"]" for k, pages in fresh.items()]
    cache.set(CACHE_NS, shared.digest(*key), zlib.compress(b"{" + b",".join(parts) + b"}", 1), ttl_s)
