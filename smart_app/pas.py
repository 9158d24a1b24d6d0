"""Da Vinci PAS ``Claim/$submit`` for payers that expose it (PAS 2.2.1 specification.md "Prior
Authorization Submission"; standards.md §4.1, §4.2, §4.6), and storage of the returned
ClaimResponse in the EHR so the next order-sign sees the decision (ARCHITECTURE.md: a decision on
file is a ClaimResponse with use = preauthorization).

The payer's endpoint comes from the chart (Coverage.payor → Organization.endpoint → Endpoint.address)
and must be a FHIR base the operator registered; the EHR's token is never sent to the payer, painpa's
own backend-services token is (SMART App Launch 2.2 backend-services.md; smart_app.backend).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from cds_service import state
from cds_service.fhir.client import new_session
from smart_app import backend
from smart_app.discovery import LaunchError
from smart_app.fhir import AppFhir, FhirAccessError
from smart_app.registry import is_registered_base

_session = new_session(pool_size=4)
REVIEW = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewAction"
REVIEW_CODE = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode"


def _endpoint(fhir: AppFhir, wl, det) -> tuple[str, dict]:
    coverage = wl.record.resolve(det.coverage_ref) if det.coverage_ref else None
    payor_ref = (((coverage or {}).get("payor") or [{}])[0]).get("reference")
    if not payor_ref:
        raise LaunchError("The patient's coverage names no payer organization; use the PA packet instead.", 422)
    payer = wl.record.resolve(payor_ref) or fhir.read(payor_ref)
    for ref in payer.get("endpoint") or ():
        endpoint = fhir.read(ref.get("reference", ""))
        if endpoint.get("status", "active") == "active" and endpoint.get("address"):
            return endpoint["address"].rstrip("/"), payer
    raise LaunchError("This payer publishes no Da Vinci PAS endpoint; use the PA packet instead.", 422)


TRACE_SYSTEM = "urn:painpa:pas-trace"


def build_bundle(fhir: AppFhir, wl, det, payer: dict) -> dict:
    """The PAS request Bundle (``PASRequestBundle``: identifier, timestamp, the Claim first). The
    Claim's identifier is painpa's trace number, which the payer echoes and ``$inquire`` matches."""
    order = wl.order(det.order_ref) or {}
    claim_url = f"urn:uuid:{uuid.uuid4()}"
    items = [{"sequence": i, "productOrService": {"coding": [c]}}
             for i, c in enumerate((order.get("code") or {}).get("coding") or (), start=1)]
    claim = {
        "resourceType": "Claim", "status": "active", "use": "preauthorization",
        "identifier": [{"system": TRACE_SYSTEM, "value": str(uuid.uuid4())}],
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "patient": {"reference": f"Patient/{wl.patient.get('id') if wl.patient else ''}"},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "insurer": {"reference": f"Organization/{payer.get('id')}"},
        "provider": order.get("requester") or {"display": "ordering provider"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "referral": {"reference": det.order_ref},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": det.coverage_ref}}],
        "item": items,
    }
    entries = [{"fullUrl": claim_url, "resource": claim}]
    for res in (wl.patient, wl.record.resolve(det.coverage_ref), payer, order):
        if res and res.get("id"):
            entries.append({"fullUrl": f"{fhir.base}/{res['resourceType']}/{res['id']}", "resource": res})
    return {"resourceType": "Bundle", "type": "collection", "id": str(uuid.uuid4()),
            "identifier": {"system": TRACE_SYSTEM, "value": str(uuid.uuid4())},
            "timestamp": claim["created"], "entry": entries}


def review_codes(claim_response: dict) -> tuple[list[str], list[str]]:
    """The X12 306 review actions and item numbers of a PAS ClaimResponse's items."""
    codes, numbers = [], []
    for item in claim_response.get("item") or ():
        for adj in item.get("adjudication") or ():
            for ext in adj.get("extension") or ():
                if ext.get("url") == REVIEW:
                    for sub in ext.get("extension") or ():
                        if sub.get("url") == REVIEW_CODE:
                            codes += [c.get("code") for c in sub["valueCodeableConcept"].get("coding") or ()]
                        elif sub.get("url") == "number":
                            numbers.append(sub.get("valueString"))
    return codes, numbers


def is_pended(claim_response: dict) -> bool:
    codes, _ = review_codes(claim_response)
    return "A4" in codes or (not codes and claim_response.get("outcome") in ("queued", "partial"))


def summary(claim_response: dict) -> str:
    codes, numbers = review_codes(claim_response)
    number = claim_response.get("preAuthRef") or next((n for n in numbers if n), None)
    return f"PAS decision {', '.join(dict.fromkeys(c for c in codes if c)) or claim_response.get('outcome', '?')}" + (
        f", authorization number {number}" if number else "") + (" (pended: the payer is reviewing)"
                                                                  if is_pended(claim_response) else "")


def call_payer(method: str, address: str, path: str, body: dict | None = None,
               timeout: tuple[float, float] = (2.0, 15.0)) -> requests.Response:
    """Every call to the payer's PAS API ($submit, $inquire, Subscription): the address already
    checked against the registered bases; the EHR's token is never sent. painpa's backend-services
    token goes with it when the payer requires one (smart_app.backend); a 401 to a kept token is
    retried once with a new one."""
    app = state.current()
    for attempt in (1, 2):
        headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
                   **backend.payer_headers(app.db, app.settings, address)}
        resp = _session.request(method, f"{address}/{path}", json=body, timeout=timeout, allow_redirects=False,
                                headers=headers)
        if resp.status_code != 401 or "Authorization" not in headers or attempt == 2:
            return resp
        backend.forget(address)
    return resp


def submit(db, fhir: AppFhir, wl, order_ref: str, watch: Callable[[dict, str], dict] | None = None) -> str:
    """``watch(stored, address)``, for a pended decision: follow it (smart_app.pas_watch) and return
    the ClaimResponse to store, marked with how it is followed."""
    det = wl.determination(order_ref)
    if det is None:
        raise LaunchError("That order is not in this worklist; go back to the worklist.", 404)
    address, payer = _endpoint(fhir, wl, det)
    if not is_registered_base(db, address):
        raise LaunchError("The payer's PAS endpoint is not a registered FHIR base; painpa will not call it.", 403)
    bundle = build_bundle(fhir, wl, det, payer)
    try:
        resp = call_payer("POST", address, "Claim/$submit", bundle)
        body = resp.json()
    except (requests.RequestException, ValueError):
        raise LaunchError("The payer's PAS endpoint did not answer with FHIR; nothing was stored.", 502) from None
    first = ((body.get("entry") or [{}])[0].get("resource") if isinstance(body, dict) else None) or {}
    if resp.status_code != 200 or first.get("resourceType") != "ClaimResponse":
        raise LaunchError(f"The payer refused the PAS request (HTTP {resp.status_code}); nothing was stored.", 502)
    claim_url = bundle["entry"][0]["fullUrl"]
    stored = dict(first)
    stored.pop("id", None)
    stored["request"] = {"reference": claim_url}
    stored.setdefault("use", "preauthorization")
    stored["patient"] = bundle["entry"][0]["resource"]["patient"]
    trace = bundle["entry"][0]["resource"]["identifier"][0]
    if trace not in (stored.get("identifier") or []):   # kept even when the payer does not echo it
        stored["identifier"] = [*(stored.get("identifier") or []), trace]
    if watch and is_pended(first):
        stored = watch(stored, address)
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": claim_url, "resource": bundle["entry"][0]["resource"], "request": {"method": "POST", "url": "Claim"}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": stored, "request": {"method": "POST", "url": "ClaimResponse"}}]}
    try:
        fhir.transaction(tx)
    except FhirAccessError as exc:
        raise LaunchError(exc.message + " The payer's decision was received but not stored.", exc.status) from None
    return summary(first)
