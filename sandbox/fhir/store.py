"""Resource persistence for the sandbox FHIR server (FHIR R4 RESTful API §3.1.0: create, read,
update, delete; versionId and lastUpdated maintained by the server).

Functions take an SQLAlchemy session so that a transaction Bundle is one unit of work.

A versioned update (``If-Match``, or ``Bundle.entry.request.ifMatch`` in a transaction; FHIR R4
http.html §3.1.0.6.1 "Managing Resource Contention") compares and swaps in one ``UPDATE … WHERE
version = …``: the version checked in Python was read before this unit of work held SQLite's write
lock or PostgreSQL's row lock, so two requests with the same ``If-Match`` could both pass that check;
only one of them can match the row in the UPDATE, the other answers 412.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sandbox.fhir.outcome import FhirError
from sandbox.fhir.params import compartment_patient
from sandbox.tables import FhirResource

_ID_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")


def check_id(rid: str) -> str:
    if not rid or len(rid) > 64 or not set(rid) <= _ID_OK:
        raise FhirError(400, f"{rid!r} is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})", "value")
    return rid


def new_id() -> str:
    return str(uuid.uuid4())


def _stamp(resource: dict, version: int, when: datetime) -> dict:
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    resource["meta"] = meta
    return resource


def read(s: Session, rtype: str, rid: str) -> dict:
    row = s.get(FhirResource, (rtype, rid))
    if row is None:
        raise FhirError(404, f"{rtype}/{rid} is not known", "not-found")
    if row.deleted:
        raise FhirError(410, f"{rtype}/{rid} has been deleted", "deleted")
    return json.loads(row.body)


def exists(s: Session, rtype: str, rid: str) -> bool:
    row = s.get(FhirResource, (rtype, rid))
    return row is not None and not row.deleted


def put(s: Session, resource: dict, *, if_match: str | None = None) -> tuple[dict, bool]:
    """Create or replace ``resource`` (which carries its id); returns (stored, created)."""
    rtype, rid = resource["resourceType"], check_id(resource["id"])
    row = s.get(FhirResource, (rtype, rid))
    if if_match is not None:
        current = None if row is None or row.deleted else f'W/"{row.version}"'
        if if_match.strip() != current:
            raise FhirError(412, f"{rtype}/{rid} is at version {current}, not {if_match}", "conflict")
    now = datetime.now(UTC)
    created = row is None or row.deleted
    version = 1 if row is None else row.version + 1
    stored = _stamp(dict(resource), version, now)
    body = json.dumps(stored, separators=(",", ":"))
    values = {"version": version, "last_updated": now, "deleted": False, "body": body,
              "patient_id": compartment_patient(stored)}
    if row is None:
        s.add(FhirResource(resource_type=rtype, id=rid, **values))
    elif if_match is not None:
        _swap(s, row, values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    s.flush()
    return stored, created


def _swap(s: Session, row: FhirResource, values: dict) -> None:
    """Replace ``row`` only if it is still at the version this request read (see the module docstring)."""
    rtype, rid, seen = row.resource_type, row.id, row.version
    done = s.execute(
        update(FhirResource)
        .where(FhirResource.resource_type == rtype, FhirResource.id == rid, FhirResource.version == seen,
               FhirResource.deleted.is_(False))
        .values(**values)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise FhirError(412, f"{rtype}/{rid} was changed by another request after version {seen} was read", "conflict")
    s.expire(row)  # the identity map holds the row as read; a later read in this unit must see the new one


def delete(s: Session, rtype: str, rid: str) -> bool:
    row = s.get(FhirResource, (rtype, rid))
    if row is None or row.deleted:
        return False
    row.deleted, row.version, row.last_updated = True, row.version + 1, datetime.now(UTC)
    return True


def candidates(s: Session, rtype: str, patient_id: str | None) -> list[dict]:
    """Rows of one type, narrowed in SQL to one Patient compartment when the search names one."""
    q = select(FhirResource.body).where(FhirResource.resource_type == rtype, FhirResource.deleted.is_(False))
    if patient_id is not None:
        q = q.where(FhirResource.patient_id == patient_id)
    return [json.loads(body) for body in s.scalars(q.order_by(FhirResource.last_updated, FhirResource.id))]
