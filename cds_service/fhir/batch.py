"""One round of reads as a single FHIR ``batch`` (FHIR R4 http.html#transaction, §3.1.0.11: a
Bundle of type ``batch`` POSTed to the base, answered by a ``batch-response`` whose entries are in
the request's order), used only with a server whose CapabilityStatement
(``GET [base]/metadata``, http.html#capabilities) lists the system interaction ``batch`` in
``rest.interaction``.

The statement is read once per base and process and kept for an hour (a failed read for a minute);
that read is not counted among the call's reads of the patient's data (cds_service/fhir/reads.py).
Each entry's URL is a relative query the client checks as it checks a read's (under the base, no
dot segments), each entry's answer is checked as a read's answer is (type asked for, the call's
resource budget), and a search entry's ``next`` pages are read with GETs. A batch the server
refuses as a whole (status, size, not a ``batch-response`` of as many entries) returns None: the
caller reads the round as parallel GETs instead.
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote

from cds_service.fhir import warm
from cds_service.fhir.client import FhirClient, FhirError, Truncated, parse

log = logging.getLogger(__name__)

CAPABLE_TTL_S = 3600.0
UNKNOWN_TTL_S = 60.0
URI_CHARS = "/?#[]@!$&'()*+,;=:%~"   # RFC 3986 reserved (and escapes) kept: "|" of a token search is escaped, as in a GET
_capable: dict[str, tuple[bool, float]] = {}


def clear() -> None:
    _capable.clear()


def supported(client: FhirClient) -> bool:
    """Whether the server at ``client.base`` says it takes a ``batch`` (cached per base)."""
    now = time.monotonic()
    known = _capable.get(client.base)
    if known is not None and known[1] > now:
        return known[0]
    try:
        statement = parse(client.read(f"{client.base}/metadata", counted=False))
    except FhirError as exc:
        log.info("FHIR CapabilityStatement not read (%s): no batch", exc)
        _capable[client.base] = (False, now + UNKNOWN_TTL_S)
        return False
    rests = statement.get("rest") if statement.get("resourceType") == "CapabilityStatement" else None
    capable = any(isinstance(i, dict) and i.get("code") == "batch"
                  for rest in (rests if isinstance(rests, list) else ()) if isinstance(rest, dict)
                  and rest.get("mode", "server") == "server"
                  for i in (rest.get("interaction") if isinstance(rest.get("interaction"), list) else ()))
    _capable[client.base] = (capable, now + CAPABLE_TTL_S)
    return capable


def run(client: FhirClient, jobs: dict[str, str],
        raw: dict[str, list[bytes]] | None = None) -> tuple[dict[str, list[dict]], set[str]] | None:
    """``jobs`` (key -> relative query) in one batch: results and failed keys as
    cds_service.fhir.gather's parallel round gives them, or None when the server refused the batch."""
    failed = {key for key, query in jobs.items() if client.url_for(query) is None
              or query.startswith(("http://", "https://"))}
    asked = {key: query for key, query in jobs.items() if key not in failed}
    bundle = {"resourceType": "Bundle", "type": "batch",
              "entry": [{"request": {"method": "GET", "url": quote(query, safe=URI_CHARS)}} for query in asked.values()]}
    try:
        content = client.post(client.base, json.dumps(bundle, separators=(",", ":")).encode())
        answer = parse(content)
    except FhirError as exc:
        log.info("FHIR batch refused (%s): parallel reads instead", exc)
        return None
    entries = answer.get("entry")
    if answer.get("type") != "batch-response" or not isinstance(entries, list) or len(entries) != len(asked):
        log.info("FHIR batch answer is not a batch-response of %d entries: parallel reads instead", len(asked))
        return None
    results: dict[str, list[dict]] = {}
    for (key, query), entry in zip(asked.items(), entries, strict=True):
        try:
            results[key] = client.follow(query, _resource(entry))
        except FhirError as exc:
            log.info("FHIR batch entry %s failed: %s", key, exc)
            failed.add(key)
            results.update({key: exc.pages} if isinstance(exc, Truncated) else {})   # still incomplete
    if raw is not None:
        warm.keep_batch(raw, content, [None if key in failed else key for key in asked],
                        {key: pages[1:] for key, pages in results.items() if key not in failed})
    return results, failed


def _resource(entry: object) -> dict:
    """The resource of a ``batch-response`` entry whose status is 200, else why not."""
    response = entry.get("response") if isinstance(entry, dict) else None
    status = response.get("status") if isinstance(response, dict) else None
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(status, str) or not status.startswith("200"):
        raise FhirError(f"batch entry status {status if isinstance(status, str) else 'missing'}")
    if not isinstance(resource, dict) or resource.get("resourceType") == "OperationOutcome":
        raise FhirError("batch entry without a resource")
    return resource
