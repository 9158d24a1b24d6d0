"""Building one CDS Hooks request (CDS Hooks 2.0 §"Calling a CDS Service", §"Prefetch"; hook
library order-select/order-sign 1.0) and reading the CRD coverage-information it returns
(Da Vinci CRD 2.x §"Coverage Information"; standards.md §2.3).

``fhirAuthorization`` is a real token from the sandbox authorization server: patient-scoped,
read-only, five minutes, issued to the CDS service's client id and revoked after the call.
Prefetch, when the user asks for it, is fulfilled by running each template against the sandbox
FHIR server exactly as a query would (templates with tokens the EHR cannot fill are skipped).
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qsl, urlsplit

from sandbox.fhir import store
from sandbox.fhir.outcome import FhirError
from sandbox.fhir.search import search
from sandbox.setup import CDS_CLIENT_ID
from sandbox.tokens import issue_direct

CRD_COVERAGE = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
FHIR_AUTH_TTL_S = 300
FHIR_AUTH_SCOPE = "patient/*.rs"
_TOKEN = re.compile(r"\{\{([^}]+)\}\}")


def fhir_authorization(db, patient: str, user: str) -> dict:
    token = issue_direct(db, client_id=CDS_CLIENT_ID, scope=FHIR_AUTH_SCOPE, context={"patient": patient},
                         user=user, expires_in=FHIR_AUTH_TTL_S)
    return {**token, "subject": CDS_CLIENT_ID, "patient": patient}


def build(hook: str, *, fhir_base: str, context: dict, draft: dict, auth: dict | None) -> dict:
    body = {
        "hook": hook, "hookInstance": str(uuid.uuid4()), "fhirServer": fhir_base,
        "context": {**context, "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                               "entry": [{"resource": draft}]}},
    }
    if hook == "order-select":
        body["context"]["selections"] = [f"ServiceRequest/{draft['id']}"]
    if auth:
        body["fhirAuthorization"] = auth
    return body


def fill_prefetch(db, templates: dict, context: dict, fhir_base: str) -> dict:
    values = {"context.patientId": context.get("patientId"), "context.userId": context.get("userId"),
              "context.encounterId": context.get("encounterId"),
              "userPractitionerId": (context.get("userId") or "").split("/")[-1]}
    out = {}
    for key, template in (templates or {}).items():
        names = _TOKEN.findall(template)
        if any(not values.get(n.strip()) for n in names):
            continue  # a token we cannot fill: omit the key (CDS Hooks 2.0 §Prefetch)
        query = _TOKEN.sub(lambda m: str(values[m.group(1).strip()]), template)
        try:
            out[key] = _run(db, query, fhir_base, context["patientId"])
        except FhirError:
            continue  # the service will query for it itself
    return out


def _run(db, query: str, fhir_base: str, patient: str):
    parts = urlsplit(query)
    path = parts.path.strip("/").split("/")
    with db.session() as s:
        if len(path) == 2:
            try:
                return store.read(s, path[0], path[1])
            except FhirError as err:
                if err.status in (404, 410):
                    return None
                raise
        return search(s, path[0], parse_qsl(parts.query), fhir_base, compartment=patient)


def coverage_info(system_actions: list[dict]) -> list[dict]:
    """One summary per coverage-information extension in the systemActions."""
    out = []
    for action in system_actions or []:
        resource = action.get("resource") or {}
        for ext in resource.get("extension") or []:
            if ext.get("url") != CRD_COVERAGE:
                continue
            fields: dict = {"order": f"{resource.get('resourceType')}/{resource.get('id')}"}
            for sub in ext.get("extension") or []:
                value = next((v for k, v in sub.items() if k.startswith("value")), None)
                if isinstance(value, dict):
                    value = value.get("reference") or value.get("display") or str(value)
                fields.setdefault(sub.get("url"), []).append(value)
            out.append({k: (v if k == "order" else ", ".join(str(x) for x in v)) for k, v in fields.items()})
    return out
