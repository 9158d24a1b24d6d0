"""One round of a call's FHIR reads (CDS Hooks 2.0 §FHIR Resource Access; CRD foundation
"Performance"): the queries of the round run at once on libcurl's multi interface, on the calling
thread, under the call's deadline (cds_service/fhir/curl.py), or go as one FHIR ``batch`` when the
server's CapabilityStatement lists it (cds_service/fhir/batch.py). What did not arrive before the
deadline is named as failed, so its type is left incomplete (the policy then says "unknown", never
"unmet").
"""

from __future__ import annotations

import logging

from cds_service import metrics
from cds_service.fhir import batch, curl
from cds_service.fhir.client import MAX_BODY_BYTES, FhirClient, FhirError, Truncated

log = logging.getLogger(__name__)

# At most this many of one call's reads are in flight at once (the rest wait their turn inside the
# call), so a call that names hundreds of references cannot open hundreds of connections to the EHR.
PER_CALL_QUERIES = 16


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
    """Run ``jobs`` (key -> relative query) at once until done or the deadline; return results and
    the keys that failed. With ``raw``, each key's answer bytes are kept there too."""
    results: dict[str, list[dict]] = {}
    failed: set[str] = set()
    urls: dict[str, str] = {}
    for key, query in jobs.items():
        if (url := client.checked(query)) is None:
            log.info("FHIR query %s refused: reference outside the registered FHIR base", key)
            failed.add(key)
        else:
            urls[key] = url
    client.count(len(urls))
    request = curl.Request(
        headers=[f"{name}: {value}" for name, value in client.headers().items()],
        max_bytes=MAX_BODY_BYTES, budget=client.budget, connect_timeout=client.connect_timeout,
        read_timeout=client.read_timeout, deadline=client.deadline, in_flight=PER_CALL_QUERIES)
    for key, body in curl.get_all(urls, request).items():
        if isinstance(body, str):
            log.info("FHIR query %s failed: %s", key, body)
            failed.add(key)
            continue
        try:   # parsed here, in the CPU slot, one answer at a time
            results[key] = client.answer(jobs[key], body, raw.setdefault(key, []) if raw is not None else None)
        except FhirError as exc:
            log.info("FHIR query %s failed: %s", key, exc)
            failed.add(key)
            results.update({key: exc.pages} if isinstance(exc, Truncated) else {})  # still incomplete
    metrics.dependency_error("fhir", len(failed))   # each of these leaves its type incomplete
    return results, failed
