"""HTTP surface of the CDS service (CDS Hooks 2.0 §Discovery, §Calling a CDS Service, §Feedback,
§Security, §CORS). Views are thin: authenticate, parse, call the service's handler, audit, answer.

Every hook call is audited (one row, its ``X-Request-Id`` included) and counted in ``/metrics`` with
the status it was answered, refusals too: 401, 429, 4xx, 500 and the 503 of a database that is busy
or unavailable. Once known, the verified ``iss`` and the ``hookInstance`` are named on every later
log line of the call (cds_service/security/request_ids.py); the security lines (JWT refused, rate
limit exceeded, egress refused) name the ``iss`` too, never a token or a patient id.
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
from cds_service.clients import ClientInfo
from cds_service.clock import today_utc
from cds_service.errors import Refused
from cds_service.fhir import reads as fhir_reads
from cds_service.hooks import feedback, registry
from cds_service.hooks.request import HookRequest, InvalidRequest, parse_json, parse_request
from cds_service.hooks.service import HookCall, HookResult, ServiceDef
from cds_service.http_errors import (
    database_unavailable,
    db_error_name,
    error_response,
    refusal_response,
    unauthorized,
)
from cds_service.security import egress, gate, limits, request_ids
from cds_service.security.ratelimit import RateLimited

bp = Blueprint("cds", __name__)
log = logging.getLogger(__name__)


def _verify(audience_path: str) -> ClientInfo | None:
    """The calling client, or None (answered 401). Its ``iss`` is named on every later log line."""
    app = state.current()
    authorization = request.headers.get("Authorization")
    try:
        client = authenticate(app.db, app.settings, authorization, app.settings.base_url + audience_path)
    except AuthError as exc:
        # The reason and the claimed iss; never the token.
        log.info("JWT refused: %s", exc,
                 extra={"iss": exc.claimed_iss, "iss_verified": False} if exc.claimed_iss else None)
        return None
    request_ids.annotate(iss=client.iss)
    return client


def _authenticate(audience_path: str) -> ClientInfo | None:
    """:func:`_verify`, then the client's rate limit: 429 + Retry-After when over budget (docs/security.md)."""
    client = _verify(audience_path)
    if client is not None:
        app = state.current()
        gate.enforce_rate_limit(app.db, app.settings, client.iss)
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
        except (RateLimited, HTTPException):
            raise   # audited and counted where they were met (_throttle, _call_service)
        except Exception as exc:
            if registry.current().by_id(service_id) is not None:
                # Answered 503 (database busy or unavailable) or 500 by cds_service/http_errors.py;
                # counted here, where the service is known.
                metrics.observe(service_id, 503 if database_unavailable(exc) else 500, time.monotonic() - started)
            raise


def _throttle(service: ServiceDef, client: ClientInfo, started: float) -> None:
    """Spend one call of the client's budget; over it, audit the refusal and count it in /metrics,
    then raise :class:`RateLimited` for cds_service/http_errors.py to answer 429 + Retry-After.

    The limit is checked right after the JWT, before the body is read (a throttled client costs no
    upload and no parse), so the row has no hookInstance, hook or patient hash: it holds the
    service, the verified iss, status 429, the latency and the request id. A 429 whose row cannot be
    written is answered as any call whose row cannot be written (the audit fails closed,
    docs/security.md §2.7): 503 + Retry-After when the database is busy or unavailable, 500 for
    another error, never a 429 without its row. The call was counted by the limiter already, so the
    503's shorter Retry-After does not lift the limit: the next call is refused again."""
    app = state.current()
    try:
        gate.enforce_rate_limit(app.db, app.settings, client.iss)
    except RateLimited:
        elapsed = time.monotonic() - started
        _audit(service.id, client, None, None, 429, elapsed)
        metrics.observe(service.id, 429, elapsed)
        raise


def _audit(service_id: str, client: ClientInfo | None, hook_req: HookRequest | None, result: HookResult | None,
           status: int, elapsed: float, fhir_reads: int | None = None) -> None:
    """The call's audit row. A write that fails is logged here, naming the hookInstance (or that none
    was read) and the status the call would have had, then raised: the call is answered 503 (database
    busy or unavailable) or 500, never without its row (docs/security.md §2.7)."""
    try:
        audit.record(
            state.current().db,
            service_id=service_id,
            hook=hook_req.hook if hook_req else None,
            hook_instance=hook_req.hook_instance if hook_req else None,
            iss=client.iss if client else None,
            patient_ref_hash=audit.patient_hash(current_app.secret_key, hook_req.fhir_server, hook_req.patient_id)
            if hook_req else None,
            orders=hook_req.selected_orders if hook_req else (),
            determinations=result.determinations if result else (),
            response=result.response if result else None,
            latency_ms=int(elapsed * 1000),
            status=status,
            incomplete=result.record.incomplete if result else (),
            request_id=request_ids.current(),
            fhir_reads=fhir_reads,
        )
    except Exception as exc:
        log.error("audit row not written for hookInstance %s (would have answered %d): %s; answered %d",
                  hook_req.hook_instance if hook_req else "(not read)", status, db_error_name(exc),
                  503 if database_unavailable(exc) else 500)
        raise


def _call_service(service_id: str):
    service = registry.current().by_id(service_id)
    if service is None:
        return _no_service(service_id)
    started = time.monotonic()
    app = state.current()
    settings, db = app.settings, app.db
    client = _verify(f"/cds-services/{service_id}")
    if client is not None:
        _throttle(service, client, started)
    hook_req: HookRequest | None = None
    result: HookResult | None = None
    count = fhir_reads.begin()
    if client is None:
        resp = unauthorized()
    else:
        try:
            with cpu.released():   # the caller may upload slowly
                raw = request.get_data()
            hook_req = parse_request(limits.bounded_hook(parse_json(raw), settings.max_prefetch_resources, raw),
                                     service.hook)
            request_ids.annotate(hook_instance=hook_req.hook_instance)
            if hook_req.requested_version is None and client.crd_version:
                # No version asked for: the one this client was registered for (render/versions.py).
                hook_req = replace(hook_req, crd_version=client.crd_version)
            if hook_req.fhir_server:
                checked = client.checked_fhir_server(hook_req.fhir_server,
                                                     allow_insecure=settings.allow_insecure_registered)
                if checked is None:
                    log.warning("egress refused: fhirServer is not a base registered for this client")
                    raise InvalidRequest("fhirServer is not a FHIR base registered for this client", "fhirServer")
                hook_req = replace(hook_req, fhir_server=checked)   # queries go where the check looked
            try:
                egress.admit_fhir_server(hook_req.fhir_server if hook_req.access_token else None, settings)
            except egress.FhirServerRefused as exc:
                log.warning("egress refused: %s", exc.message)   # the token was not sent
                raise
            call = HookCall(service=service, request=hook_req, settings=settings, db=db, policies=app.policies,
                            today=today_utc(), client=client, pool=app.fhir_pool)
            result = service.handler(call)
            resp = jsonify(result.response)
        except Refused as exc:
            resp = refusal_response(exc)
        except HTTPException as exc:
            # 413 and friends: answered by the app's error handlers, audited and counted here.
            elapsed = time.monotonic() - started
            _audit(service.id, client, hook_req, None, exc.code or 500, elapsed)
            metrics.observe(service.id, exc.code or 500, elapsed)
            raise
        except Exception as exc:  # noqa: BLE001 - answered and audited; traceback to the server log only
            if database_unavailable(exc):
                raise  # 503 + Retry-After (cds_service/http_errors.py); no audit row: it would wait on the same lock
            log.exception("hook call failed: %s", type(exc).__name__)
            resp = error_response(500, "Internal error; the incident was logged")
    elapsed = time.monotonic() - started
    _audit(service.id, client, hook_req, result, resp.status_code, elapsed, count.reads)   # raises: then 503, not 200
    metrics.observe(service.id, resp.status_code, elapsed, count.reads)
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
