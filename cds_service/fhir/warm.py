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

An entry remembers when its oldest answer was read. When painpa's own SMART app saves a form to the
patient's chart (the fix a card offered, between order-select and order-sign), it records the
write in the database (``cds_chart_writes``: every worker and host sees it, whichever holds the
entry), and an entry read before that write is not used: the order-sign reads the chart again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from cds_service import shared
from cds_service.security import urls
from cds_service.shared import SharedCache
from cds_service.store.base import Database, conflict_insert
from cds_service.store.tables import ChartWrite

log = logging.getLogger(__name__)

CACHE_NS = "gather-z"      # not the earlier namespace: its entries were uncompressed JSON
CACHE_TTL_S = 120
BATCH, BATCH_KEYS = "@batch", "@batch-keys"   # never a prefetch key or a "ref:" key
AS_OF = "@as-of"   # when the entry's oldest answer was read (seconds since the epoch)
MAX_ENTRY_BYTES = 64 * 2**20   # decompressed: an entry larger than any call may read is not one of ours


def cache_key(scope: Sequence[str | None], fhir_server: str, patient_id: str, user_id: str | None, token: str) -> tuple:
    """Cache entries are bound to client, tenant, server, patient, user and the token itself (hashed)."""
    return (*scope, fhir_server, patient_id, user_id, hashlib.sha256(token.encode()).hexdigest())


def clear() -> None:
    shared.clear(CACHE_NS)


def load(cache: SharedCache, key: tuple) -> tuple[dict[str, list[dict]], float]:
    """The entry for ``key``: pages by prefetch key (or ``ref:Type/id``), and when its oldest answer
    was read; ({}, 0) when none or unreadable."""
    raw = cache.get(CACHE_NS, shared.digest(*key))
    if raw is None:
        return {}, 0.0
    try:
        inflate = zlib.decompressobj()
        text = inflate.decompress(raw, MAX_ENTRY_BYTES)
        if inflate.unconsumed_tail:
            raise ValueError("entry too large")
        value = json.loads(text)
    except (zlib.error, ValueError, RecursionError) as exc:
        log.info("warm cache entry unreadable (%s): read again", type(exc).__name__)
        return {}, 0.0
    if not isinstance(value, dict):
        return {}, 0.0
    as_of = value.pop(AS_OF, 0.0)
    as_of = float(as_of) if isinstance(as_of, int | float) and not isinstance(as_of, bool) else 0.0
    if BATCH in value:
        try:
            answer, keys = value.pop(BATCH)[0], value.pop(BATCH_KEYS)[0]
            for k, entry in zip(keys, answer["entry"], strict=True):
                if k is not None and isinstance(value.get(k), list):   # first page from the batch, then the rest
                    value[k] = [entry["resource"], *value[k]]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            log.info("warm cache entry unreadable (batch): read again")
            return {}, 0.0
    return value, as_of


def keep_batch(raw: dict[str, list[bytes]], content: bytes, keys: list[str | None],
               later_pages: Mapping[str, list[dict]]) -> None:
    """Keep a ``batch-response`` (``content``, its bytes) in ``raw`` as :func:`store` takes it: the
    answer once, the key of each of its entries (None: not to keep), and each kept key's pages read
    after the batch (its next pages, serialized: rare). One batch per entry: a call's first round."""
    raw[BATCH], raw[BATCH_KEYS] = [content], [json.dumps(keys).encode()]
    for k in filter(None, keys):
        raw[k] = [json.dumps(p, separators=(",", ":")).encode() for p in later_pages[k]]


def store(cache: SharedCache, key: tuple, cached: Mapping[str, list[dict]], fresh: Mapping[str, list[bytes]],
          as_of: float, ttl_s: float = CACHE_TTL_S) -> None:
    """Keep what this call read (``fresh``: each answer's bytes, pages in order) with what it found
    cached; the bytes are joined, never parsed and serialized again. ``as_of``: when the oldest of
    them was read (the cached entry's, when there was one)."""
    parts = [json.dumps(k).encode() + b":" + json.dumps(v, separators=(",", ":")).encode()
             for k, v in cached.items() if k not in fresh]
    parts += [json.dumps(k).encode() + b":[" + b",".join(pages) + b"]" for k, pages in fresh.items()]
    parts.append(json.dumps(AS_OF).encode() + b":" + json.dumps(as_of).encode())
    cache.set(CACHE_NS, shared.digest(*key), zlib.compress(b"{" + b",".join(parts) + b"}", 1), ttl_s)


def chart_hash(salt: str, fhir_server: str, patient_id: str) -> str:
    """The chart of ``patient_id`` on ``fhir_server`` (base in normal form, so the hook's
    ``fhirServer`` and the SMART app's ``iss`` name one chart), salted, as the audit log hashes patients."""
    try:
        base = urls.canonical(fhir_server).rstrip("/")
    except urls.UrlRefused:
        base = fhir_server.rstrip("/")
    return hashlib.sha256(f"{salt}|{base}|Patient/{patient_id}".encode()).hexdigest()


def chart_written(db: Database, salt: str, fhir_server: str, patient_id: str, now: datetime | None = None) -> bool:
    """painpa's SMART app wrote to this chart ``now``: warm entries read before it are not used.
    False when the database refused the record: the write to the EHR stands (saving the form again
    would write it twice), and an order-sign within two minutes may still answer from before it."""
    row = {"chart_hash": chart_hash(salt, fhir_server, patient_id), "written": now or datetime.now(UTC)}
    stmt = conflict_insert(db.engine.dialect.name)(ChartWrite.__table__).values(**row).on_conflict_do_update(index_elements=["chart_hash"],
                                                             set_={"written": row["written"]})
    try:
        with db.begin() as conn:
            conn.execute(stmt)
    except SQLAlchemyError as exc:
        log.warning("chart write not recorded (%s): the warm cache may answer from before it", type(exc).__name__)
        return False
    return True


def written_since(db: Database, salt: str, fhir_server: str, patient_id: str, as_of: float) -> bool:
    """Whether painpa's SMART app wrote to this chart at or after ``as_of`` (seconds since the epoch)."""
    with db.begin() as conn:
        written = conn.execute(select(ChartWrite.written).where(
            ChartWrite.chart_hash == chart_hash(salt, fhir_server, patient_id))).scalar_one_or_none()
    if written is None:
        return False
    return (written if written.tzinfo else written.replace(tzinfo=UTC)).timestamp() >= as_of
