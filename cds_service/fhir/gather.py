"""Gather the patient's FHIR record for a hook call or SMART session: prefetch first, then parallel
queries under one deadline (CDS Hooks 2.0 §Prefetch, §FHIR Resource Access; CRD foundation
"Performance"; standards.md §7 budget, §8.3).

A prefetch key that is missing or an OperationOutcome (or ``null`` for the patient or coverage) is
queried from ``fhirServer`` with the bearer token. All such queries run at once, with the Location,
PractitionerRole, Encounter and Coverage the draft orders point to (service state and setting);
only when a PractitionerRole or Encounter read brings a Location not yet read does a second round
follow. References are read only when relative or under the same base: absolute references to
other hosts are never read. Each round runs in cds_service/fhir/rounds.py (several reads go as one
FHIR ``batch`` when the server's CapabilityStatement lists it). When the deadline passes the record
is returned with what arrived, and the resource types that did not arrive are named in
``record.incomplete`` so the policy says "unknown", never "unmet". What an honoured prefetch key of
the order's context (``practitionerRoles``, ``locations``: cds_service/fhir/queries.py) does not
hold is not read, nor a ``null`` history key (CH2: no data), so a call whose prefetch was honoured
makes no FHIR read at all; the reads a call made are counted (cds_service/fhir/reads.py) for its
audit row and ``/metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import cache
from urllib.parse import quote

from urllib3 import PoolManager

from cds_service import shared
from cds_service.config import Settings, secret_key
from cds_service.fhir import batch, reads, rounds, warm
from cds_service.fhir.client import FhirClient, FhirError, new_pool
from cds_service.fhir.queries import CONTEXT_TYPES, QUERIES
from cds_service.policy.record import PatientRecord, TenantDefaults
from cds_service.store.base import Database

# Types a draft order (or what it points to) may reference that the policy reads for place of service.
# Not Organization: nothing reads an order's, a role's or an encounter's organization, and reading
# them took a second round of reads (a round trip to the EHR) on every call that lacked them.
FOLLOWED_TYPES = frozenset({"Location", "PractitionerRole", "Encounter", "Coverage"})
REF_PREFIX = "ref:"
MAX_REFERENCES = 100        # references followed per call (draft orders, roles, encounters)
@cache
def _connections() -> PoolManager:
    """Connection pools for callers that bring none (the SMART app's worklist, the CPM app)."""
    return new_pool()


def clear_cache() -> None:
    warm.clear()
    batch.clear()


def render_template(template: str, context: Mapping[str, str | None]) -> str | None:
    """Replace ``{{context.X}}`` tokens; None when a token has no value (the query is skipped)."""
    out = template
    for name, value in context.items():
        token = "{{context." + name + "}}"
        if token in out:
            if not value:
                return None
            out = out.replace(token, quote(str(value), safe="/"))
    return None if "{{" in out else out


def _usable(value: object) -> bool:
    """A prefetch value worth keeping: a resource, not an OperationOutcome, and for a Bundle an
    ``entry`` that is an array (anything else is as good as missing: it is queried instead)."""
    if not isinstance(value, dict) or value.get("resourceType") in (None, "OperationOutcome"):
        return False
    return value.get("resourceType") != "Bundle" or isinstance(value.get("entry", []), list)


def _no_data(prefetch: Mapping[str, object], key: str) -> bool:
    """CH2 §Prefetch: "If the CDS Client has no data to populate a template prefetch key, the
    prefetch template key MUST have a value of null". Honoured only where a FHIR server could have
    been asked instead (the same answer, one read fewer) and never for the patient or coverage,
    which without them stay missing (the 412 of CDS Hooks 2.0 for CRD 2.0.1 clients, CC-24)."""
    return key in prefetch and prefetch[key] is None


def _references(resource: dict) -> list[str]:
    refs: list[object] = []
    for key in ("locationReference", "performer", "insurance", "location"):
        items = resource.get(key) or []
        refs.extend(items if isinstance(items, list) else [items])
    for key in ("requester", "encounter"):
        refs.append(resource.get(key))
    out: list[str] = []
    for item in refs:
        if isinstance(item, dict) and isinstance(item.get("location"), dict):  # Encounter.location[]
            item = item["location"]
        if isinstance(item, dict) and isinstance(item.get("reference"), str):
            out.append(item["reference"])
    return out


def _client(settings: Settings, fhir_server: str, access_token: str, pool: PoolManager | None) -> FhirClient:
    """A client for one call's reads: the settings' timeouts, pagination bound and deadline from now."""
    return FhirClient(fhir_server, access_token, pool=pool or _connections(),
                      connect_timeout=settings.fhir_connect_timeout_s, read_timeout=settings.fhir_read_timeout_s,
                      deadline=time.monotonic() + settings.fhir_deadline_s, max_pages=settings.fhir_max_pages)


def read_one(ref: str, *, settings: Settings, fhir_server: str, access_token: str,
             pool: PoolManager | None = None) -> dict | None:
    """The resource at relative reference ``ref``, read as :func:`gather` reads (the same bounds and
    answer checks) and counted in the call's reads; None when it cannot be read."""
    client = _client(settings, fhir_server, access_token, pool)
    try:
        pages = client.fetch(ref)
    except FhirError:
        return None
    finally:
        reads.add(client.reads)
    return pages[0] if pages else None


def gather(
    *,
    patient_id: str,
    settings: Settings,
    fhir_server: str | None = None,
    access_token: str | None = None,
    prefetch: Mapping[str, object] | None = None,
    context: Mapping[str, str | None] | None = None,
    orders: Sequence[dict] = (),
    defaults: TenantDefaults | None = None,
    pool: PoolManager | None = None,
    cache_scope: Sequence[str | None] | None = None,
    queries: Sequence = QUERIES,
    db: Database | None = None,
) -> PatientRecord:
    """The record for ``patient_id``. ``fhir_server`` must already be checked against the caller's
    registered bases; ``cache_scope`` (client iss, tenant) enables the short order-select →
    order-sign cache, whose entries ``db`` says are out of date once painpa's SMART app has written
    to the chart (cds_service/fhir/warm.py)."""
    prefetch = prefetch or {}
    tokens = {"patientId": patient_id, **(context or {})}
    record = PatientRecord(defaults=defaults or TenantDefaults())
    client = _client(settings, fhir_server, access_token, pool) if fhir_server and access_token else None
    key = None
    if client and cache_scope is not None:
        key = warm.cache_key(cache_scope, client.base, patient_id, tokens.get("userId"), access_token or "")
    cache = shared.cache_for(settings.redis_url)
    read_at = time.time()
    cached, as_of = warm.load(cache, key) if key else ({}, read_at)
    if cached and db is not None and client and warm.written_since(db, secret_key(settings), client.base,
                                                                   patient_id, as_of):
        cached = {}   # the app saved a form since: read the chart again
    if not cached:
        as_of = read_at     # what this call keeps in the cache is read from now on

    jobs: dict[str, str] = {}
    types = {q.key: q.resource_type for q in queries}
    for q in queries:
        value = prefetch.get(q.key)
        if client and _no_data(prefetch, q.key) and not q.required:
            continue    # the client's answer: nothing on file (the same as an empty search)
        if _usable(value):
            record.add(value)
            if client and value.get("resourceType") == "Bundle":
                try:
                    for page in client.continue_bundle(value):
                        record.add(page)
                except FhirError:
                    record.incomplete.add(q.resource_type)
            continue
        query = render_template(q.template, tokens)
        if query is None:
            continue
        if q.key in cached:
            for page in cached[q.key]:
                record.add(page)
        elif client:
            jobs[q.key] = query
        else:
            record.incomplete.add(q.resource_type)

    known = set(types)
    for extra_key, value in prefetch.items():
        # Keys beyond our templates (CRD 2.2 standard prefetch: locations, practitionerRoles,
        # organizations...) still describe this order's context: keep what is well-formed.
        if extra_key not in known and _usable(value):
            record.add(value)
    for cached_key, pages in cached.items():  # what order-select's orders pointed to: no second read
        if cached_key.startswith(REF_PREFIX):
            for page in pages:
                record.add(page)
    if client:
        # What the draft orders point to is known now: read it in the same parallel round, except
        # the types an honoured prefetch key answers in full (a read would find nothing more).
        answered = {rtype for k, rtype in CONTEXT_TYPES.items() if _usable(prefetch.get(k)) or _no_data(prefetch, k)}
        searching = {types[k] for k in jobs} | answered  # e.g. Coverage: its search will very likely bring it
        queried = set(jobs.values())    # e.g. the requester's PractitionerRole is often the ``user`` read
        refs = [ref for ref in _wanted(client, record, orders, set())
                if ref.split("/")[0] not in searching and ref not in queried]
        attempted = set(refs)     # references read (or tried) in this call: at most MAX_REFERENCES
        jobs.update({REF_PREFIX + ref: ref for ref in refs})
        raw: dict[str, list[bytes]] | None = {} if key is not None else None
        results, failed = rounds.read_round(client, jobs, raw)
        for pages in results.values():
            for page in pages:
                record.add(page)
        record.incomplete.update(types.get(k) or k[len(REF_PREFIX):].split("/")[0] for k in failed)
        if raw is not None and (fresh := {k: pages for k, pages in raw.items() if k not in failed}):
            warm.store(cache, key, cached, fresh, as_of)
        _follow_references(client, record, list(orders) + record.of("PractitionerRole") + record.of("Encounter"),
                           attempted, answered)
        reads.add(client.reads)
    return record


def _wanted(client: FhirClient, record: PatientRecord, sources: Sequence[dict], attempted: set[str]) -> list[str]:
    """Relative ``Type/id`` references of ``sources`` worth reading, not yet in the record and not
    tried before in this call (``attempted``), in the order met; a call tries at most
    ``MAX_REFERENCES`` in all (the policy reads a handful: place of service, state)."""
    wanted: dict[str, None] = {}
    room = MAX_REFERENCES - len(attempted)
    for resource in sources:
        for ref in _references(resource):
            if ref.startswith(("http://", "https://")):
                if not client.owns(ref):
                    continue  # another host: never followed, never sent the token
                ref = ref[len(client.base) + 1:]
            parts = ref.split("/")
            if (len(parts) == 2 and parts[0] in FOLLOWED_TYPES and parts[1] and ref not in wanted
                    and ref not in attempted and record.resolve(ref) is None):
                if len(wanted) >= room:
                    return list(wanted)
                wanted[ref] = None
    return list(wanted)


def _follow_references(client: FhirClient, record: PatientRecord, sources: list[dict], attempted: set[str],
                       answered: set[str]) -> None:
    """Up to two more rounds for what the fetched resources point to (PractitionerRole → Location),
    but not the types in ``answered`` (honoured prefetch keys)."""
    for _round in range(2):
        wanted = [ref for ref in _wanted(client, record, sources, attempted) if ref.split("/")[0] not in answered]
        if not wanted:
            return
        attempted.update(wanted)
        results, failed = rounds.read_round(client, {ref: ref for ref in wanted})
        sources = []
        for pages in results.values():
            for page in pages:
                record.add(page)
                sources.append(page)
        record.incomplete.update(ref.split("/")[0] for ref in failed)
