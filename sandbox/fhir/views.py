"""HTTP surface of the sandbox FHIR R4 server under ``/fhir`` (FHIR R4 RESTful API §3.1.0: read,
search, create, update, delete, transaction/batch, capabilities). Thin: parse, authorize, call.

Conditional interactions (http.html): ``If-None-Match`` on read answers 304 when the client's ETag is
current (#cread); ``If-None-Exist`` on create (#ccreate) and ``PUT [type]?[criteria]`` (#cond-update)
are ``sandbox.fhir.conditional``.

Every request but ``metadata`` needs a bearer token from the sandbox authorization server; a
patient-scoped token sees only its patient's compartment (SMART App Launch 2.2 §Scopes).
"""

from __future__ import annotations

from flask import Blueprint, g, request

from cds_service import state
from sandbox.fhir import bearer, bundle, conditional, store
from sandbox.fhir.capability import capability_statement
from sandbox.fhir.outcome import FhirError, error_response, fhir_response
from sandbox.fhir.params import compartment_patient
from sandbox.fhir.search import search
from sandbox.fhir.validate import check_type, validate
from sandbox.scopes import access

bp = Blueprint("sandbox_fhir", __name__, url_prefix="/fhir")
_OPS = {"GET": "s", "READ": "r", "POST": "c", "PUT": "u", "DELETE": "d"}


def fhir_base() -> str:
    return state.current().settings.base_url + "/fhir"


@bp.errorhandler(FhirError)
def _fhir_error(err: FhirError):
    return error_response(err)


@bp.before_request
def _authenticate():
    if request.endpoint in ("sandbox_fhir.metadata", "sandbox_auth.smart_configuration") or request.method == "OPTIONS":
        return None
    bearer.check()
    return None


def authorize(method: str, rtype: str, resource: dict | None) -> None:
    info = g.sbx_token
    level = access(info.scope, rtype, _OPS[method])
    if level is None:
        raise FhirError(403, f"The token's scopes do not allow {method} on {rtype}", "forbidden")
    if level == "patient" and resource is not None:
        owner = compartment_patient(resource)
        if owner is not None and owner != info.patient:
            raise FhirError(403, f"The token is limited to Patient/{info.patient}", "forbidden")


def _compartment(rtype: str) -> str | None:
    return g.sbx_token.patient if access(g.sbx_token.scope, rtype, "s") == "patient" else None


def _body() -> dict:
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise FhirError(400, "The body is not a JSON object (send application/fhir+json)", "structure")
    return data


def _strict() -> bool:
    return "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")


@bp.get("/metadata")
def metadata():
    return fhir_response(capability_statement(fhir_base(), state.current().settings.base_url + "/auth"))


@bp.post("")
@bp.post("/")
def transaction():
    with conditional.LOCK, state.current().db.session() as s:
        result = bundle.process(s, _body(), fhir_base(), authorize, g.sbx_token.patient)
    return fhir_response(result)


@bp.get("/<rtype>")
def search_type(rtype: str):
    check_type(rtype)
    authorize("GET", rtype, None)
    with state.current().db.session() as s:
        result = search(s, rtype, list(request.args.items(multi=True)), fhir_base(), strict=_strict(),
                        compartment=_compartment(rtype))
    return fhir_response(result)


@bp.post("/<rtype>/_search")
def search_post(rtype: str):
    check_type(rtype)
    authorize("GET", rtype, None)
    params = list(request.args.items(multi=True)) + list(request.form.items(multi=True))
    with state.current().db.session() as s:
        result = search(s, rtype, params, fhir_base(), strict=_strict(), compartment=_compartment(rtype))
    return fhir_response(result)


@bp.get("/<rtype>/<rid>")
def read(rtype: str, rid: str):
    check_type(rtype)
    with state.current().db.session() as s:
        resource = store.read(s, rtype, store.check_id(rid))
    authorize("READ", rtype, resource)
    etag = f'W/"{resource["meta"]["versionId"]}"'
    if _etag_matches(request.headers.get("If-None-Match"), etag):
        return fhir_response(None, 304, {"ETag": etag})
    return fhir_response(resource, headers={"ETag": etag})


@bp.post("/<rtype>")
def create(rtype: str):
    resource = validate(_body(), rtype)
    authorize("POST", rtype, resource)
    condition = request.headers.get("If-None-Exist")
    if condition is not None:
        authorize("GET", rtype, None)  # the criteria are a search: they need the right to search
    with conditional.LOCK, state.current().db.session() as s:
        stored, created = conditional.create(s, resource, condition, fhir_base(), _compartment(rtype))
    if not created:
        authorize("READ", rtype, stored)
        return fhir_response(stored, 200, {"Location": f"{fhir_base()}/{rtype}/{stored['id']}",
                                           "ETag": f'W/"{stored["meta"]["versionId"]}"'})
    return _written(stored, 201)


@bp.put("/<rtype>")
def conditional_update(rtype: str):
    resource = validate(_body(), rtype)
    criteria = list(request.args.items(multi=True))
    authorize("GET", rtype, None)
    with conditional.LOCK, state.current().db.session() as s:
        rid = conditional.update_target(s, resource, criteria, fhir_base(), _compartment(rtype))
        resource = {**resource, "id": rid}
        authorize("PUT", rtype, resource)
        if store.exists(s, rtype, rid):
            authorize("PUT", rtype, store.read(s, rtype, rid))
        stored, created = store.put(s, resource, if_match=request.headers.get("If-Match"))
    return _written(stored, 201 if created else 200)


@bp.put("/<rtype>/<rid>")
def update(rtype: str, rid: str):
    resource = validate(_body(), rtype)
    if resource.get("id") != rid:
        raise FhirError(400, f"The resource id {resource.get('id')!r} must equal the URL id {rid!r}", "invalid")
    authorize("PUT", rtype, resource)
    with state.current().db.session() as s:
        if store.exists(s, rtype, rid):
            authorize("PUT", rtype, store.read(s, rtype, rid))
        stored, created = store.put(s, resource, if_match=request.headers.get("If-Match"))
    return _written(stored, 201 if created else 200)


@bp.delete("/<rtype>/<rid>")
def delete(rtype: str, rid: str):
    check_type(rtype)
    with state.current().db.session() as s:
        if store.exists(s, rtype, rid):
            authorize("DELETE", rtype, store.read(s, rtype, rid))
        store.delete(s, rtype, store.check_id(rid))
    return fhir_response(None, 204)


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
def unsupported(rest: str):
    raise FhirError(404 if request.method in ("GET", "HEAD") else 405,
                    f"{request.method} /fhir/{rest} is not an interaction this server supports", "not-supported")


def _etag_matches(header: str | None, etag: str) -> bool:
    """RFC 7232 §3.2 weak comparison: ``*`` or any listed tag equal to the current one, W/ or not."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    bare = etag.removeprefix("W/")
    return "*" in tags or any(t.removeprefix("W/") == bare for t in tags)


def _written(stored: dict, status: int):
    version = stored["meta"]["versionId"]
    location = f"{fhir_base()}/{stored['resourceType']}/{stored['id']}/_history/{version}"
    return fhir_response(stored, status, {"Location": location, "ETag": f'W/"{version}"',
                                          "Last-Modified": stored["meta"]["lastUpdated"]})
