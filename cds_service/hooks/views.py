"""HTTP surface of the CDS service (CDS Hooks 2.0 §Discovery, §Calling a CDS Service, §Feedback,
§Security, §CORS). Views are thin: authenticate, parse, call the service's handler, audit, answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from cds_service import audit, cpu, metrics, state
from cds_service.auth import AuthError, authenticate
from cds_service.clock import today_utc
from cds_service.errors import Refused
from cds_service.hooks import feedback, registry
from cds_service.hooks.request import HookRequest, InvalidRequest, parse_json, parse_request
from cds_service.hooks.service import HookCall, HookResult
from cds_service.http_errors import database_unavailable, error_response, refusal_response, unauthorized
from cds_service.security import egress, gate, limits

bp = Blueprint("cds", __name__)
log = logging.getLogger(__name__)


def _authenticate(audience_path: str):
    app = state.current()
    try:
        client = authenticate(app.db, app.settings, request.headers.get("Authorization"),
                              app.settings.base_url + audience_path)
    except AuthError as exc:
        log.info("JWT refused: %s", exc)  # the reason only; never the token
        return None
    gate.enforce_rate_limit(app.db, app.settings, client.iss)  # 429 + Retry-After when over budget (docs/security.md)
    return client


def _no_service(service_id: str) -> Response:
    return error_response(404, f"No CDS service {service_id[:80]!r}; see GET /cds-services")


@bp.after_request
def _cors(resp: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin and origin.rstrip("/") in state.current().settings.cors_origins:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Max-Age"] = "600"
        resp.headers["Vary"] = "Origin"
    return resp


@bp.get("/cds-services")
def discovery():
    if state.current().settings.discovery_requires_jwt and _authenticate("/cds-services") is None:
        return unauthorized()
    return jsonify(registry.current().discovery_document())


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str):
    started = time.monotonic()
    with cpu.section():   # one hook call's CPU work at a time in this process (cds_service/cpu.py)
        try:
            return _call_service(service_id)
        except Exception as exc:
            if database_unavailable(exc) and registry.current().by_id(service_id) is not None:
                # answered 503 by cds_service/http_errors.py; counted here, where the service is known
                metrics.observe(service_id, 503, time.monotonic() - started)
            raise


def _call_service(service_id: str):
    service = registry.current().by_id(service_id)
    if service is None:
        return _no_service(service_id)
    started = time.monotonic()
    app = state.current()
    settings, db = app.settings, app.db
    client = _authenticate(f"/cds-services/{service_id}")
    hook_req: HookRequest | None = None
    result: HookResult | None = None
    if client is None:
        resp = unauthorized()
    else:
        try:
            with cpu.released():   # the caller may upload slowly
                raw = request.get_data()
            hook_req = parse_request(limits.bounded_hook(parse_json(raw), settings.max_prefetch_resources, raw),
                                     service.hook)
            if hook_req.fhir_server:
                checked = client.checked_fhir_server(hook_req.fhir_server,
                                                     allow_insecure=settings.allow_insecure_registered)
                if checked is None:
                    raise InvalidRequest("fhirServer is not a FHIR base registered for this client", "fhirServer")
                hook_req = replace(hook_req, fhir_server=checked)   # queries go where the check looked
            egress.admit_fhir_server(hook_req.fhir_server if hook_req.access_token else None, settings)
            call = HookCall(service=service, request=hook_req, settings=settings, db=db, policies=app.policies,
                            today=today_utc(), client=client, pool=app.fhir_pool)
            result = service.handler(call)
            resp = jsonify(result.response)
        except Refused as exc:
            resp = refusal_response(exc)
        except HTTPException:
            raise  # 413 and friends: answered by the app's error handlers
        except Exception as exc:  # noqa: BLE001 - answered and audited; traceback to the server log only
            if database_unavailable(exc):
                raise  # 503 + Retry-After (cds_service/http_errors.py); no audit row: it would wait on the same lock
            log.exception("hook call failed: %s", type(exc).__name__)
            resp = error_response(500, "Internal error; the incident was logged")
    elapsed = time.monotonic() - started
    audit.record(   # raises when the row cannot be written: the call is then answered 503, not 200
        db,
        service_id=service.id,
        hook=hook_req.hook if hook_req else None,
        hook_instance=hook_req.hook_instance if hook_req else None,
        iss=client.iss if client else None,
        patient_ref_hash=audit.patient_hash(current_app.secret_key, hook_req.fhir_server, hook_req.patient_id)
        if hook_req else None,
        orders=hook_req.selected_orders if hook_req else (),
        determinations=result.determinations if result else (),
        response=result.response if result else None,
        latency_ms=int(elapsed * 1000),
        status=resp.status_code,
        incomplete=result.record.incomplete if result else (),
    )
    metrics.observe(service.id, resp.status_code, elapsed)
    return resp


@bp.post("/cds-services/<service_id>/feedback")
def post_feedback(service_id: str):
    if registry.current().by_id(service_id) is None:
        return _no_service(service_id)
    client = _authenticate(f"/cds-services/{service_id}/feedback")
    if client is None:
        return unauthorized()
    items = feedback.validate(limits.bounded_feedback(parse_json(request.get_data())))
    db = state.current().db
    try:
        feedback.store(db, service_id, client.iss, items)
    except IntegrityError:  # a concurrent duplicate won the race: it is stored, which is the goal
        feedback.store(db, service_id, client.iss, items)
    return Response(status=200)
