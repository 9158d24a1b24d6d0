"""CDS Hooks request bodies for the bundled example patient (tests/cds/data: ``record.json``, the
chart of patient ``pt-esi-1``; ``orders.json``, draft orders): the registered client's issuer, the
two order services, every discovery prefetch answered from the record, and ``hook_body`` to build an
order-sign or order-select request. Also where the public example requests are (``EXTERNAL``)."""

from __future__ import annotations

import copy
import json
import os
import uuid
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "cds" / "data"
# Public example requests (shared/ sits beside the work tree, in CI as here); override with the env var.
EXTERNAL = Path(os.environ.get("PAINPA_EXTERNAL_FIXTURES")
                or Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "external")
ISS = "https://ehr.example.org/cds-client"
SELECT = "painpa-order-select"
SIGN = "painpa-order-sign"


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def record_resources() -> list[dict]:
    return [e["resource"] for e in load("record.json")["entry"]]


def find(rtype: str, rid: str) -> dict:
    return next(r for r in record_resources() if r["resourceType"] == rtype and r["id"] == rid)


def full_prefetch() -> dict:
    """Every discovery prefetch key, answered from the fixture record (as a capable EHR would)."""
    from cds_service.fhir.queries import QUERIES

    by_type: dict[str, list[dict]] = {}
    for r in record_resources():
        by_type.setdefault(r["resourceType"], []).append(r)
    out: dict = {}
    for q in QUERIES:
        if q.key == "patient":
            out["patient"] = find("Patient", "pt-esi-1")
        elif q.key == "user":
            out["user"] = find("PractitionerRole", "role-pain-1")
        else:
            hits = by_type.get(q.resource_type, [])
            out[q.key] = {"resourceType": "Bundle", "type": "searchset",
                          "entry": [{"resource": r} for r in hits]} if hits else None
    return out


def hook_body(hook: str = "order-sign", *, orders: list[dict] | None = None, selections: list[str] | None = None,
              prefetch: dict | None = None, fhir_server: str | None = None, token: str | None = None,
              extension: dict | None = None) -> dict:
    orders = orders if orders is not None else [load("orders.json")["esi"]]
    context: dict = {"userId": "PractitionerRole/role-pain-1", "patientId": "pt-esi-1",
                     "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                     "entry": [{"resource": copy.deepcopy(o)} for o in orders]}}
    if hook == "order-select":
        context["selections"] = selections or [f"{o['resourceType']}/{o['id']}" for o in orders[:1]]
    body: dict = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir_server:
        body["fhirServer"] = fhir_server
    if token:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 30,
                                     "scope": "patient/*.rs", "subject": "painpa"}
    if extension:
        body["extension"] = extension
    return body
