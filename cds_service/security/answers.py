"""Is a FHIR server's answer what was asked for? (FHIR R4 REST: a read returns the resource type
read; a search returns a ``searchset`` Bundle of the searched type, plus OperationOutcome entries
with ``search.mode = outcome``).

A hostile or broken server that answers a Coverage search with Patients (or with JSON that is not
resources at all) must not be mistaken for "this patient has no coverage": the query counts as
failed, the type goes to ``record.incomplete`` and the card says painpa could not verify.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def expected_type(relative: str) -> str | None:
    """``Coverage`` for ``Coverage?patient=…``, ``Patient`` for ``Patient/123`` (a query relative to
    the FHIR base, as :mod:`cds_service.fhir.queries` writes them); None if it names no type."""
    first = urlsplit(relative).path.strip("/").split("/")[0]
    return first if first[:1].isupper() and first.isalpha() else None


def problem(asked: str, body: object) -> str | None:
    """Why ``body`` is not an answer to ``asked`` (None when it is)."""
    want = expected_type(asked)
    if not isinstance(body, dict):
        return "answer is not a FHIR resource"
    got = body.get("resourceType")
    if want is None or got == want:
        return None
    if got != "Bundle":
        return f"asked for {want}, got {got if isinstance(got, str) else 'no resourceType'}"
    entries = body.get("entry", [])
    if not isinstance(entries, list):
        return "Bundle.entry is not an array"
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            return "Bundle entry without a resource"
        kind = resource.get("resourceType")
        mode = (entry.get("search") or {}).get("mode") if isinstance(entry.get("search"), dict) else None
        if kind != want and kind != "OperationOutcome" and mode != "include":
            return f"asked for {want}, the Bundle holds {kind if isinstance(kind, str) else 'an untyped entry'}"
    return None
