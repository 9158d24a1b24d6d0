"""One round of a call's FHIR reads (CDS Hooks 2.0 §FHIR Resource Access; CRD foundation
"Performance"): the queries of the round run at once on the process's query pool, under the call's
deadline, or go as one FHIR ``batch`` when the server's CapabilityStatement lists it
(cds_service/fhir/batch.py). What did not arrive before the deadline is named as failed, so its
type is left incomplete (the policy then says "unknown", never "unmet").
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from cds_service import cpu, metrics
from cds_service.fhir import batch
from cds_service.fhir.client import FhirClient, FhirError, Truncated

log = logging.getLogger(__name__)

# Every call's queries run on one pool per process: a pool started for each round of queries made
# every call pay for its thread starts in CPU (bench/RESULTS.md, "pooled FHIR query threads"). Threads
# start only when none is idle, so the cap costs nothing until that many queries wait on slow
# servers at once; a query holds its thread no longer than its read timeout and the call's
# deadline. One call has at most PER_CALL_QUERIES in flight (the rest wait their turn inside the
# call), so a call that names thousands of references cannot fill the pool ahead of other calls'
# queries.
POOL_THREADS = 256
PER_CALL_QUERIES = 16
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def query_pool() -> ThreadPoolExecutor:
    """The process's query pool, made on first use (a forked worker never inherits the parent's:
    its threads do not survive a fork)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="fhir"), os.getpid()
        return _pool


def read_round(client: FhirClient, jobs: dict[str, str],
               raw: dict[str, list[bytes]] | None = None) -> tuple[dict[str, list[dict]], set[str]]:
    """One round of reads: in one ``batch`` when there are several and the server takes one
    (cds_service/fhir/batch.py), else (or when the server refuses the batch) in parallel."""
    if len(jobs) > 1 and batch.supported(client) and (done := batch.run(client, jobs, raw)) is not None:
        metrics.dependency_error("fhir", len(done[1]))
        return done
    return run(client, jobs, raw)


def run(client: FhirClient, jobs: dict[str, str],
        raw: dict[str, list[bytes]] | None = None) -> tuple[dict[str, list[dict]], set[str]]:
    """Run ``jobs`` (key -> relative query) in parallel until done or the deadline; return results
    and the keys that failed. With ``raw``, each key's answer bytes are kept there too."""
    results: dict[str, list[dict]] = {}
    failed: set[str] = set()
    if not jobs:
        return results, failed
    pool = query_pool()
    queue = deque(jobs.items())
    futures: dict[Future, str] = {}
    pending: set[Future] = set()

    def submit_more() -> None:
        while queue and len(pending) < PER_CALL_QUERIES:
            key, query = queue.popleft()
            fut = pool.submit(client.read_pages, query)
            futures[fut] = key
            pending.add(fut)

    submit_more()
    try:
        while pending:
            remaining = client.deadline - time.monotonic()
            if remaining <= 0:
                break
            with cpu.released():   # waiting on the FHIR server: the worker's other calls run meanwhile
                done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            submit_more()
            for fut in done:
                key = futures[fut]
                try:   # parsed here, in the CPU slot, one answer at a time (FhirClient.read_pages says why)
                    results[key] = client.finish(jobs[key], fut.result(),
                                                 raw.setdefault(key, []) if raw is not None else None)
                except FhirError as exc:
                    log.info("FHIR query %s failed: %s", key, exc)
                    failed.add(key)
                    results.update({key: exc.pages} if isinstance(exc, Truncated) else {})  # still incomplete
    finally:
        for fut in pending:
            fut.cancel()        # not started yet: never will; running ones end on their timeouts
    for fut in pending:
        log.info("FHIR query %s did not finish before the deadline", futures[fut])
        failed.add(futures[fut])
    for key, _query in queue:
        log.info("FHIR query %s not started before the deadline", key)
        failed.add(key)
    metrics.dependency_error("fhir", len(failed))   # each of these leaves its type incomplete
    return results, failed


