"""The sandbox payer's Da Vinci PAS endpoints (PAS 2.2.1 §"Prior Authorization Submission",
§"Inquiry", §"Subscriptions"): ``POST /payer/Claim/$submit`` and ``/payer/Claim/$inquire``, the
PAS topic's ``/payer/Subscription``, the decisions' response Bundles at ``/payer/Bundle/<id>`` and
``/payer/metadata``. ``$submit`` and ``$inquire`` are also reachable as ``/fhir/Claim/...``, the EHR
relaying to its payer as a PAS intermediary would. Everything but ``/payer/metadata`` needs a bearer
token of the sandbox authorization server with the route's scope (``sandbox.fhir.bearer``; SMART
Backend Services for an outside PAS client).

Views are thin: sandbox.payer.request reads the body, sandbox.payer.service decides and answers.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from cds_service import __version__, state
from cds_service.clock import today_utc
from sandbox.fhir.bearer import require_token
from sandbox.fhir.outcome import FhirError, error_response, fhir_response
from sandbox.fhir.params import compartment_patient
from sandbox.payer import service, subscriptions
from sandbox.payer.capability import capability_statement
from sandbox.payer.request import parse
from sandbox.payer.tables import PayerSubscription

bp = Blueprint("sandbox_payer", __name__)


@bp.errorhandler(FhirError)
def _fhir_error(err: FhirError):
    return error_response(err)


def _own_patient_only(claim: dict) -> None:
    """Every route here runs behind :func:`require_token` (a backend-services token, or the EHR's for
    ``/fhir/Claim/...``); a patient-level token reaches its own patient only."""
    patient = g.sbx_token.patient
    if patient and compartment_patient(claim) != patient:
        raise FhirError(403, f"The token is limited to Patient/{patient}", "forbidden")


def _base() -> str:
    return f"{state.current().settings.base_url}/payer"


@bp.get("/payer/metadata")
def metadata():
    auth = f"{state.current().settings.base_url}/auth"
    return fhir_response(capability_statement(_base(), auth, __version__, today_utc().isoformat()))


@bp.post("/payer/Claim/$submit")
@bp.post("/fhir/Claim/$submit")
@require_token("Claim", "c")
def submit():
    req = parse(request.get_json(silent=True, force=True))
    _own_patient_only(req.claim)
    return fhir_response(service.submit(req, current_app._get_current_object(),
                                        via_ehr=request.path.startswith("/fhir/")))


@bp.post("/payer/Claim/$inquire")
@bp.post("/fhir/Claim/$inquire")
@require_token("Claim", "r")
def inquire():
    """PAS 2.1 returns one Bundle; 2.2 allows several (``return`` 0..*), sent as Parameters."""
    req = parse(request.get_json(silent=True, force=True), claim_profile="PAS inquiry")
    _own_patient_only(req.claim)
    found = service.inquire(req, current_app._get_current_object())
    if not found:
        raise FhirError(404, "No prior-authorization decision matches this inquiry (patient, provider, and a trace "
                             "number, authorization number or item code)", "not-found")
    if len(found) == 1:
        return fhir_response(found[0])
    return fhir_response({"resourceType": "Parameters",
                          "parameter": [{"name": "return", "resource": b} for b in found]})


@bp.get("/payer/Bundle/<bundle_id>")
@require_token("Bundle", "r")
def response_bundle(bundle_id: str):
    found = service.response_bundle(bundle_id, current_app._get_current_object())
    if found is None:
        raise FhirError(404, f"No decision Bundle/{bundle_id}", "not-found")
    return fhir_response(found)


@bp.post("/payer/Subscription")
@require_token("Subscription", "c")
def subscription_create():
    own = state.current().settings.base_url
    with state.current().db.session() as s:
        row = subscriptions.create(s, request.get_json(silent=True, force=True), own)
        s.flush()
        s.expunge(row)
    subscriptions.handshake(row, _base(), own)   # outside the transaction: the endpoint may call back
    with state.current().db.session() as s:
        s.merge(row)
    return fhir_response(row.body, 201, {"Location": f"{_base()}/Subscription/{row.id}"})


def _subscription(s, sub_id: str) -> PayerSubscription:
    row = s.get(PayerSubscription, sub_id)
    if row is None or row.status == "off":
        raise FhirError(404, f"No Subscription/{sub_id}", "not-found")
    return row


@bp.get("/payer/Subscription/<sub_id>")
@require_token("Subscription", "r")
def subscription_read(sub_id: str):
    with state.current().db.session() as s:
        row = _subscription(s, sub_id)
        return fhir_response({**row.body, "status": row.status})


@bp.get("/payer/Subscription/<sub_id>/$status")
@require_token("Subscription", "r")
def subscription_status(sub_id: str):
    with state.current().db.session() as s:
        row = _subscription(s, sub_id)
        status = subscriptions.status_parameters(row, _base(), kind="query-status")
    return fhir_response({"resourceType": "Bundle", "type": "searchset", "entry": [
        {"fullUrl": f"urn:uuid:{status['id']}", "resource": status, "search": {"mode": "match"}}]})


@bp.delete("/payer/Subscription/<sub_id>")
@require_token("Subscription", "d")
def subscription_delete(sub_id: str):
    with state.current().db.session() as s:
        _subscription(s, sub_id).status = "off"
    return fhir_response(None, 204)
