"""Conditional create and conditional update (FHIR R4 http.html#ccreate, http.html#cond-update).

Conditional create (``If-None-Exist: [search parameters]``, or ``Bundle.entry.request.ifNoneExist``):
no match, the resource is created (201); one match, nothing is created and the existing one is
answered (200); several, 412. Conditional update (``PUT [base]/[type]?[search parameters]``): no
match, it is created, with the body's id when it has one (update as create); one match, that resource
is updated, and a body id naming another resource is 400; several, 412.

The criteria are searched with strict handling always: a parameter this server does not support would
otherwise be dropped, the criteria would match more than the client meant, and a conditional update
could overwrite the wrong resource. Criteria that select nothing at all are refused for the same reason.

Match and write happen under one process-wide lock (the sandbox is one process; a threaded server),
so two identical conditional creates at once still make one resource.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qsl

from sqlalchemy.orm import Session

from sandbox.fhir import store
from sandbox.fhir.outcome import FhirError
from sandbox.fhir.search import search

LOCK = threading.Lock()
_PAGING = {"_count", "_offset", "_sort", "_include", "_summary", "_format", "_pretty", "_total", "_elements"}


def parse_criteria(rtype: str, text: str | None) -> list[tuple[str, str]]:
    """``identifier=sys|1`` or ``Patient?identifier=sys|1`` → [(name, value)]."""
    query = (text or "").strip()
    if query.startswith(f"{rtype}?"):
        query = query[len(rtype) + 1:]
    elif query.startswith("?"):
        query = query[1:]
    return [(n, v) for n, v in parse_qsl(query, keep_blank_values=True) if n not in ("_format", "_pretty")]


def matches(s: Session, rtype: str, criteria: list[tuple[str, str]], base: str, compartment: str | None) -> list[dict]:
    if not criteria:
        raise FhirError(400, "Conditional criteria are empty: they would match every resource", "invalid")
    paging = sorted({n for n, _ in criteria} & _PAGING)
    if paging:
        raise FhirError(400, f"Conditional criteria cannot use {', '.join(paging)}", "invalid")
    found = search(s, rtype, [*criteria, ("_count", "2")], base, strict=True, compartment=compartment)
    if found["total"] > 1:
        raise FhirError(412, f"The conditional criteria match {found['total']} {rtype} resources; make them "
                             "select one", "duplicate")
    return [e["resource"] for e in found.get("entry") or [] if e["search"]["mode"] == "match"]


def create(s: Session, resource: dict, condition: str | None, base: str, compartment: str | None,
           preset_id: str | None = None) -> tuple[dict, bool]:
    """(stored or existing resource, created?)."""
    rtype = resource["resourceType"]
    if condition is not None:
        existing = matches(s, rtype, parse_criteria(rtype, condition), base, compartment)
        if existing:
            return existing[0], False
    stored, _ = store.put(s, {**resource, "id": preset_id or store.new_id()})
    return stored, True


def update_target(s: Session, resource: dict, criteria: list[tuple[str, str]], base: str,
                  compartment: str | None) -> str:
    """The id a conditional update writes to: the one match, else the body's id, else a new one."""
    rtype = resource["resourceType"]
    existing = matches(s, rtype, criteria, base, compartment)
    if existing:
        if resource.get("id") not in (None, existing[0]["id"]):
            raise FhirError(400, f"The criteria match {rtype}/{existing[0]['id']} but the body's id is "
                                 f"{resource['id']!r}", "invalid")
        return existing[0]["id"]
    return store.check_id(resource["id"]) if resource.get("id") else store.new_id()
