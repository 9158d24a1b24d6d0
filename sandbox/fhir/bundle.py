"""Transaction and batch Bundles (FHIR R4 RESTful API §3.1.0.11 "Batch/Transaction").

A transaction is all-or-nothing: entries run in the order the spec fixes (DELETE, POST, PUT, GET),
``urn:uuid:`` fullUrls of created resources are replaced by their new ``Type/id`` everywhere in the
Bundle, and any failure rolls the whole unit back and answers with that entry's OperationOutcome.
A batch runs each entry on its own savepoint and reports each entry's status.

Conditional create (``request.ifNoneExist``) and conditional update (``PUT Type?criteria``) follow
``sandbox.fhir.conditional``, as the same requests outside a Bundle do.

``Bundle.entry.request.ifMatch`` on a PUT is a versioned update as the ``If-Match`` header is on a
plain PUT (FHIR R4 http.html §3.1.0.6.1 "Managing Resource Contention"): a stale version fails that
entry with 412 ``conflict``, which in a transaction rolls back every entry.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy.orm import Session

from sandbox.fhir import conditional, store
from sandbox.fhir.outcome import FhirError, outcome
from sandbox.fhir.search import search
from sandbox.fhir.validate import check_type, validate

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3, "HEAD": 3}
_IF_NONE_EXIST, _EXISTS = "__ifNoneExist", "__exists"   # markers in an entry's query, never search parameters

# authorize(method, resource_type, resource_or_None): raises FhirError(403) when the token may not.
Authorize = Callable[[str, str, dict | None], None]


def process(s: Session, bundle: dict, base: str, authorize: Authorize, compartment: str | None) -> dict:
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise FhirError(400, "POST to the base URL takes a Bundle of type 'transaction' or 'batch'", "invalid")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FhirError(400, "Bundle.entry must be a list of objects", "structure")
    if kind == "batch":
        return {"resourceType": "Bundle", "type": "batch-response",
                "entry": [_batch_entry(s, i, e, base, authorize, compartment) for i, e in enumerate(entries)]}

    plan = [_resolve_conditional(s, i, e, base, authorize, compartment) for i, e in enumerate(entries)]
    ids: dict[str, str] = {}
    for _, entry, (method, rtype, rid, query, _) in plan:
        full = entry.get("fullUrl")
        if method == "POST" and isinstance(full, str):
            if full in ids:
                raise FhirError(400, f"fullUrl {full!r} appears twice in the transaction", "invalid")
            found = query and query[0][0] == _EXISTS    # the resource a conditional create found
            ids[full] = f"{rtype}/{rid if found else store.new_id()}"
        elif method == "PUT" and isinstance(full, str) and full.startswith("urn:"):
            ids[full] = f"{rtype}/{rid}"
    results: dict[int, dict] = {}
    for i, entry, req in sorted(plan, key=lambda p: _ORDER[p[2][0]]):
        resource = rewrite_references(entry.get("resource"), ids) if entry.get("resource") is not None else None
        preset = ids.get(entry.get("fullUrl")) if req[0] == "POST" else None
        try:
            results[i] = _execute(s, req, resource, preset, base, authorize, compartment)
        except FhirError as err:
            err.issues[0]["diagnostics"] = f"entry[{i}]: {err.issues[0]['diagnostics']}"
            raise
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": [results[i] for i, _, _ in plan]}


def _resolve_conditional(s, i: int, entry: dict, base: str, authorize: Authorize, compartment):
    """Conditional criteria are searched before the transaction writes anything, so that a fullUrl
    naming a conditionally created or updated resource is rewritten to the resource the criteria
    found (R4 §3.1.0.11.2), not to a new one. A found conditional create becomes ``(POST, type, id,
    [EXISTS])``: nothing is written for it."""
    req = _request(entry)
    method, rtype, rid, query, if_match = req
    conditional_create = method == "POST" and query and query[0][0] == _IF_NONE_EXIST
    if not (conditional_create or (method == "PUT" and rid is None)) or not isinstance(entry.get("resource"), dict):
        return i, entry, req
    authorize("GET", rtype, None)
    try:
        if conditional_create:
            found = conditional.matches(s, rtype, conditional.parse_criteria(rtype, query[0][1]), base, compartment)
            return i, entry, (method, rtype, found[0]["id"], [(_EXISTS, "")], None) if found else (
                method, rtype, None, [], None)
        rid = conditional.update_target(s, {**entry["resource"], "resourceType": rtype}, query, base, compartment)
    except FhirError as err:
        err.issues[0]["diagnostics"] = f"entry[{i}]: {err.issues[0]['diagnostics']}"
        raise
    return i, {**entry, "resource": {**entry["resource"], "id": rid}}, (method, rtype, rid, [], if_match)


def _batch_entry(s: Session, i: int, entry: dict, base: str, authorize: Authorize, compartment: str | None) -> dict:
    try:
        with s.begin_nested():
            _, entry, req = _resolve_conditional(s, i, entry, base, authorize, compartment)
            return _execute(s, req, entry.get("resource"), None, base, authorize, compartment)
    except FhirError as err:
        return {"response": {"status": str(err.status), "outcome": outcome(err.issues)}}


def _request(entry: dict) -> tuple[str, str, str | None, list[tuple[str, str]], str | None]:
    req = entry.get("request")
    if not isinstance(req, dict) or not isinstance(req.get("url"), str) or req.get("method") not in _ORDER:
        raise FhirError(400, "Every entry needs request.method (GET/POST/PUT/DELETE) and request.url", "structure")
    if_match = req.get("ifMatch")
    # Ignoring an ifMatch the server cannot honour would turn the client's conflict check into a blind write.
    if if_match is not None and (req["method"] != "PUT" or not isinstance(if_match, str)):
        raise FhirError(400, f"{req['method']} {req['url']}: ifMatch is supported as a string on PUT only",
                        "not-supported")
    parts = urlsplit(req["url"])
    path = parts.path.strip("/").split("/")
    check_type(path[0])
    rid = store.check_id(path[1]) if len(path) > 1 and path[1] else None
    if req["method"] == "DELETE" and rid is None:
        raise FhirError(400, f"DELETE {req['url']}: conditional delete is not supported", "not-supported")
    if req["method"] == "PUT" and rid is None and not parts.query:
        raise FhirError(400, f"PUT {req['url']}: name the resource (Type/id) or give conditional criteria "
                             "(Type?identifier=…)", "invalid")
    query = parse_qsl(parts.query)
    if req["method"] == "POST" and req.get("ifNoneExist") is not None:
        query = [(_IF_NONE_EXIST, req["ifNoneExist"])]
    return req["method"], path[0], rid, query, if_match


def _execute(s, req, resource, preset_ref, base, authorize: Authorize, compartment) -> dict:
    method, rtype, rid, query, if_match = req
    if method in ("GET", "HEAD"):
        authorize("GET", rtype, None)
        if rid:
            body = store.read(s, rtype, rid)
            authorize("READ", rtype, body)
        else:
            body = search(s, rtype, query, base, compartment=compartment)
        return {"resource": body, "response": {"status": "200 OK"}}
    if method == "DELETE":
        if store.exists(s, rtype, rid):
            authorize("DELETE", rtype, store.read(s, rtype, rid))
        store.delete(s, rtype, rid)
        return {"response": {"status": "204 No Content"}}
    resource = validate(resource, rtype)
    authorize(method, rtype, resource)
    if method == "POST":
        if query and query[0][0] == _EXISTS:
            existing = store.read(s, rtype, rid)
            return {"resource": existing, "response": {
                "status": "200 OK", "location": f"{rtype}/{rid}", "etag": f'W/"{existing["meta"]["versionId"]}"'}}
        rid = preset_ref.split("/")[1] if preset_ref else store.new_id()
        resource = {**resource, "id": rid}
    elif resource.get("id") != rid:
        raise FhirError(400, f"PUT {rtype}/{rid}: the resource id must equal the URL id", "invalid")
    elif store.exists(s, rtype, rid):
        authorize(method, rtype, store.read(s, rtype, rid))  # the resource replaced, as a plain PUT checks it
    stored, created = store.put(s, resource, if_match=if_match)
    version = stored["meta"]["versionId"]
    return {"fullUrl": f"{base}/{rtype}/{stored['id']}", "resource": stored,
            "response": {"status": "201 Created" if created else "200 OK",
                         "location": f"{rtype}/{stored['id']}/_history/{version}", "etag": f'W/"{version}"',
                         "lastModified": stored["meta"]["lastUpdated"]}}


def rewrite_references(node, ids: dict[str, str]):
    """Replace urn:uuid references with the ids assigned in this transaction (R4 §3.1.0.11.2)."""
    if isinstance(node, dict):
        return {k: (ids.get(v, v) if k == "reference" and isinstance(v, str) else rewrite_references(v, ids))
                for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite_references(v, ids) for v in node]
    return node
