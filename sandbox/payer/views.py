"""The sandbox payer's Da Vinci PAS endpoints (PAS 2.2.1 §"Prior Authorization Submission" and
§"Inquiry"): ``POST /payer/Claim/$submit`` and ``POST /payer/Claim/$inquire``; also reachable as
``/fhir/Claim/$submit|$inquire``, the EHR relaying to its payer as a PAS intermediary would.

The answer is a Bundle whose first entry is the ClaimResponse; the Claim and the decision are also
written to the sandbox FHIR server, where painpa finds them like any decision on file.
"""

from __future__ import annotations

from flask import Blueprint, request

from cds_service import state
from cds_service.clock import today_utc
from sandbox.fhir import store
from sandbox.fhir.bearer import require_token
from sandbox.fhir.outcome import FhirError, error_response, fhir_response
from sandbox.fhir.params import compartment_patient
from sandbox.fhir.validate import validate
from sandbox.payer import decision as pas
from sandbox.payer.rules import decide, load_rules
from sandbox.tokens import introspect

bp = Blueprint("sandbox_payer", __name__)
MAC_PREFIX = {"TX": "JH", "OK": "JH", "NJ": "JL", "OH": "15", "AZ": "JF", "WA": "JF"}


@bp.errorhandler(FhirError)
def _fhir_error(err: FhirError):
    return error_response(err)


def _claim_from(body: object) -> tuple[dict, list[dict]]:
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise FhirError(400, "The body must be a PAS Request Bundle", "structure")
    entries = [e.get("resource") for e in body.get("entry") or [] if isinstance(e, dict)]
    if not entries or not isinstance(entries[0], dict) or entries[0].get("resourceType") != "Claim":
        raise FhirError(400, "The Bundle's first entry must be the Claim (PAS spec-12)", "structure")
    claim = validate(entries[0], "Claim")
    if claim.get("use") != "preauthorization":
        raise FhirError(400, "Claim.use must be 'preauthorization'", "value", )
    return claim, [e for e in entries[1:] if isinstance(e, dict)]


def _authorize(claim: dict) -> None:
    """Through the EHR (``/fhir/Claim/...``) a token of the sandbox is required, as for any FHIR call.
    The payer's own ``/payer`` API accepts the sandbox's tokens too but, being a local stand-in for a
    payer the app reaches without the EHR's token, does not require one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    info = introspect(state.current().db, token.strip()) if scheme.lower() == "bearer" else None
    if info is None and not header and request.path.startswith("/payer/"):
        return
    if info is None:
        raise FhirError(401, "A valid bearer token is required", "login",
                        headers={"WWW-Authenticate": 'Bearer realm="painpa-sandbox-payer"'})
    owner = compartment_patient(claim)
    if info.patient and owner != info.patient:
        raise FhirError(403, f"The token is limited to Patient/{info.patient}", "forbidden")


@bp.post("/payer/Claim/$submit")
@bp.post("/fhir/Claim/$submit")
@require_token("Claim", "c")
def submit():
    claim, others = _claim_from(request.get_json(silent=True, force=True))
    _authorize(claim)
    pid = compartment_patient(claim)
    app = state.current()
    db, settings = app.db, app.settings
    with db.session() as s:
        if not pid or not store.exists(s, "Patient", pid):
            raise FhirError(422, "Claim.patient must reference a Patient known to this payer", "processing")
        patient = store.read(s, "Patient", pid)
        us_state = next((a.get("state") for a in patient.get("address") or [] if a.get("state")), None)
        codes = {c.get("code") for item in claim.get("item") or []
                 for c in (item.get("productOrService") or {}).get("coding") or []}
        documented = bool(claim.get("supportingInfo")) or any(
            r.get("resourceType") in ("QuestionnaireResponse", "DocumentReference") for r in others)
        ruling = decide(load_rules(settings.home), codes=codes, has_documentation=documented, state=us_state)
        utn = None if ruling.action == "A4" else pas.new_utn(MAC_PREFIX.get(us_state or "", "09"))
        stored_claim = {**claim, "id": store.new_id()}
        response = pas.response(stored_claim, response_id=store.new_id(), action=ruling.action, decided=today_utc(),
                                utn=utn, reason=ruling.reason, reason_code=ruling.reason_code,
                                valid_days=ruling.validity_days)
        stored_claim, _ = store.put(s, stored_claim)
        response, _ = store.put(s, validate(response, "ClaimResponse"))
    base = f"{settings.base_url}/fhir"
    return fhir_response({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"{base}/ClaimResponse/{response['id']}", "resource": response},
        {"fullUrl": f"{base}/Claim/{stored_claim['id']}", "resource": stored_claim}]})


@bp.post("/payer/Claim/$inquire")
@bp.post("/fhir/Claim/$inquire")
@require_token("Claim", "r")
def inquire():
    """Query by example: the latest decision for this patient whose request shares a code with the
    inquiry Claim, or whose UTN equals one of its identifiers."""
    claim, _ = _claim_from(request.get_json(silent=True, force=True))
    _authorize(claim)
    pid = compartment_patient(claim)
    wanted = {c.get("code") for item in claim.get("item") or []
              for c in (item.get("productOrService") or {}).get("coding") or []}
    ids = {i.get("value") for i in claim.get("identifier") or []}
    db = state.current().db
    with db.session() as s:
        found = []
        for response in store.candidates(s, "ClaimResponse", pid):
            req = response.get("request", {}).get("reference", "").split("/")[-1]
            try:
                codes = {c.get("code") for item in store.read(s, "Claim", req).get("item") or []
                         for c in (item.get("productOrService") or {}).get("coding") or []}
            except FhirError:
                codes = set()
            if response.get("preAuthRef") in ids or (wanted and wanted & codes):
                found.append(response)
    if not found:
        raise FhirError(404, "No prior-authorization decision matches this inquiry", "not-found")
    latest = max(found, key=lambda r: (r.get("created", ""), r["meta"]["lastUpdated"]))
    base = state.current().settings.base_url + "/fhir"
    return fhir_response({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"{base}/ClaimResponse/{latest['id']}", "resource": latest}]})


