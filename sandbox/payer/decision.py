"""PAS-shaped prior-authorization resources (Da Vinci PAS 2.2.1 §"Prior Authorization Submission"
and ``ClaimResponse.fsh``; standards.md §4.2, §4.6): the request ``Claim`` and the decision
``ClaimResponse`` with ``preAuthRef`` (the UTN), item ``reviewAction`` (X12 306: A1 certified,
A3 not certified, A4 pended, A6 modified), ``preAuthPeriod`` and, for a denial, the specific reason that
CMS-0057-F requires (in ``reviewAction.reasonCode`` and ``processNote``).
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta

from sandbox.codes import CPT, DISPLAY, UTN_SYSTEM, X12_306

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
ACTIONS = {"A1": "Certified in total", "A3": "Not Certified", "A4": "Pending", "A6": "Modified"}
DENIAL_SYSTEM = "urn:painpa:sandbox:denial-reason"


def new_utn(prefix: str = "JH") -> str:
    """14 characters: 2 alphanumeric, 'A', 11 digits (Medicare PA UTN format, standards.md §4.5)."""
    return f"{prefix[:2].upper():<2}A{secrets.randbelow(10**11):011d}"


def claim(*, patient: str, claim_id: str, codes: list[str], created: date, coverage_ref: str, insurer: str,
          service_date: date | None = None) -> dict:
    items = []
    for i, code in enumerate(codes, start=1):
        item = {"sequence": i, "productOrService": {"coding": [{"system": CPT, "code": code,
                                                                  "display": DISPLAY.get(code, code)}]}}
        if service_date:
            item["servicedDate"] = service_date.isoformat()
        items.append(item)
    return {
        "resourceType": "Claim", "id": claim_id, "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "preauthorization", "patient": {"reference": f"Patient/{patient}"}, "created": created.isoformat(),
        "insurer": {"reference": insurer}, "provider": {"reference": "Practitioner/sbx-dr-lee"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": coverage_ref}}],
        "item": items,
    }


def response(claim_res: dict, *, response_id: str, action: str, decided: date, utn: str | None,
             reason: str | None = None, reason_code: str | None = None, valid_days: int = 120,
             item_actions: dict[int, str] | None = None, request_ref: str | None = None,
             identifiers: list[dict] | None = None, pend_number: str | None = None) -> dict:
    """The ClaimResponse for ``claim_res``. ``item_actions`` overrides the action per item sequence;
    ``request_ref`` and ``identifiers`` (echoed from the Claim, PAS ``ClaimResponse.identifier``)
    replace the local defaults; a pended item carries ``pend_number`` as its
    administrationReferenceNumber (PAS example PractitionerRequestorPendingResponseExample)."""
    period = {"start": decided.isoformat(), "end": (decided + timedelta(days=valid_days - 1)).isoformat()}
    items = []
    for item in claim_res["item"]:
        act = (item_actions or {}).get(item["sequence"], action)
        review = [{"url": f"{PAS}/extension-reviewActionCode",
                   "valueCodeableConcept": {"coding": [{"system": X12_306, "code": act, "display": ACTIONS[act]}]}}]
        if utn:
            review.insert(0, {"url": "number", "valueString": utn})
        if act == "A3" and reason:
            review.append({"url": "reasonCode", "valueCodeableConcept": {
                "coding": [{"system": DENIAL_SYSTEM, "code": reason_code or "documentation"}], "text": reason}})
        entry = {"itemSequence": item["sequence"],
                 "adjudication": [{"category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adjudication",
                                                             "code": "submitted"}]},
                                   "extension": [{"url": f"{PAS}/extension-reviewAction", "extension": review}]}]}
        if act in ("A1", "A6"):
            entry["extension"] = [{"url": f"{PAS}/extension-itemPreAuthIssueDate", "valueDate": decided.isoformat()},
                                  {"url": f"{PAS}/extension-itemPreAuthPeriod", "valuePeriod": period}]
        elif act == "A4" and pend_number:
            entry["extension"] = [{"url": f"{PAS}/extension-administrationReferenceNumber", "valueString": pend_number}]
        items.append(entry)
    body = {
        "resourceType": "ClaimResponse", "id": response_id, "status": "active",
        "identifier": list(identifiers or []) + ([{"system": UTN_SYSTEM, "value": utn}] if utn else []),
        "type": claim_res["type"], "use": "preauthorization", "patient": claim_res["patient"],
        "created": decided.isoformat(), "insurer": claim_res["insurer"], "requestor": claim_res["provider"],
        "request": {"reference": request_ref or f"Claim/{claim_res['id']}"},
        "outcome": "queued" if "A4" in {action, *(item_actions or {}).values()} else "complete",
        "disposition": ACTIONS["A6" if "A6" in (item_actions or {}).values() else action], "item": items,
    }
    if not body["identifier"]:
        del body["identifier"]
    if utn:
        body["preAuthRef"] = utn
    if action in ("A1", "A6") or (item_actions and "A1" in item_actions.values()):
        body["preAuthPeriod"] = period
    if reason:
        body["processNote"] = [{"number": 1, "type": "display", "text": reason}]
    return body


def claim_and_response(*, patient: str, claim_id: str, codes: list[str], action: str, decided: date,
                       coverage_ref: str, utn: str | None, insurer: str, reason: str | None = None,
                       valid_days: int = 120) -> tuple[dict, dict]:
    req = claim(patient=patient, claim_id=claim_id, codes=codes, created=decided - timedelta(days=2),
                coverage_ref=coverage_ref, insurer=insurer)
    return req, response(req, response_id=f"{claim_id}-r", action=action, decided=decided, utn=utn, reason=reason,
                         valid_days=valid_days)
