"""HTTP surface of the DTR payer service at the FHIR base ``{base}/dtr`` (ARCHITECTURE.md; DTR 2.2.0
specification.html "Retrieving Questionnaire Packages", CapabilityStatement dtr-payer-service).

Views are thin: authenticate, parse, assess, answer. ``$questionnaire-package`` carries patient data
(the Coverage and the orders), so it takes the JWT of a registered client, as painpa's CRD
service does (DTR asks for SMART Backend Services between DTR client and payer, DTR 2.2.0
"Authentication"; painpa's CRD clients already hold a key painpa trusts, see docs/dtr.md). The
forms and value sets hold no patient data and are public. Each operation call past authentication
leaves an audit row (service ``dtr-questionnaire-package``), as a hook call does. Every refusal is an OperationOutcome
(cds_service/http_errors.py), never a 500; nothing here logs a patient id.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, jsonify, request

from cds_service import __version__, audit, state
from cds_service.auth import AuthError, authenticate
from cds_service.clock import today_utc
from cds_service.dtr import forms
from cds_service.dtr.capability import capability_statement
from cds_service.dtr.package import PackageRefused, answer, parse
from cds_service.errors import Refused
from cds_service.http_errors import error_response, status_of, unauthorized
from cds_service.readiness import ChartAccess, Question, assess
from cds_service.security import gate, request_ids

bp = Blueprint("dtr", __name__, url_prefix="/dtr")
log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"
PACKAGE_PATH = "/dtr/Questionnaire/$questionnaire-package"
SERVICE_ID = "dtr-questionnaire-package"   # its audit rows' service


def _fhir(body: dict, status: int = 200) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = FHIR_JSON
    return resp


def _base() -> str:
    return state.current().settings.base_url + "/dtr"


@bp.get("/metadata")
def metadata():
    return _fhir(capability_statement(_base(), __version__, today_utc().isoformat()))


@bp.post("/Questionnaire/$questionnaire-package")
def questionnaire_package():
    started = time.monotonic()
    app = state.current()
    try:
        client = authenticate(app.db, app.settings, request.headers.get("Authorization"), app.settings.base_url + PACKAGE_PATH)
    except AuthError as exc:
        log.info("DTR JWT refused: %s", exc,
                 extra={"iss": exc.claimed_iss, "iss_verified": False} if exc.claimed_iss else None)
        return unauthorized()
    request_ids.annotate(iss=client.iss)
    gate.enforce_rate_limit(app.db, app.settings, client.iss)
    pin, determinations = None, []
    try:
        body = request.get_json(silent=True, force=True)
        if body is None:
            raise PackageRefused("the body is not JSON: send a FHIR Parameters resource (dtr-qpackage-input-parameters)")
        pin = parse(body)
        if pin.orders:
            chart = {"resourceType": "Bundle", "type": "collection",
                     "entry": [{"resource": r} for r in (pin.coverage, *pin.others)]}
            assessment = assess(Question(patient_id=pin.patient_id, orders=pin.orders, client=client),
                                ChartAccess(prefetch={"dtr-input": chart}), settings=app.settings,
                                policies=app.policies, today=today_utc(), db=app.db, queries=())
            determinations = assessment.determinations
        resp = _fhir(answer(pin, determinations, _base()))
    except Refused as exc:
        _audit(client, pin, determinations, status_of(exc), started)
        raise
    _audit(client, pin, determinations, 200, started)
    return resp


def _audit(client, pin, determinations, status: int, started: float) -> None:
    """One audit row per call that got past authentication, as for a hook call (the patient hashed,
    never named; docs/security.md §2.7): a call whose row cannot be written is not answered 200."""
    audit.record(state.current().db, service_id=SERVICE_ID, hook=None, hook_instance=None, iss=client.iss,
                 patient_ref_hash=audit.patient_hash(current_app.secret_key, None, pin.patient_id) if pin else None,
                 orders=pin.orders if pin else (), determinations=determinations, response=None,
                 latency_ms=int((time.monotonic() - started) * 1000), status=status,
                 request_id=request_ids.current())


def _searchset(resources: list[dict], kind: str) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{_base()}/{kind}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                      for r in resources]}


@bp.get("/Questionnaire/<qid>")
def read_questionnaire(qid: str):
    q = forms.catalogue().get(qid)
    if q is None:
        return error_response(404, f"no Questionnaire/{qid} here; GET {_base()}/Questionnaire lists them")
    return _fhir(q)


@bp.get("/Questionnaire")
def search_questionnaire():
    url = request.args.get("url")
    if url is None:
        return _fhir(_searchset(list(forms.catalogue().values()), "Questionnaire"))
    try:
        found = [forms.by_canonical(url)]
    except forms.UnknownQuestionnaire:
        found = []
    return _fhir(_searchset(found, "Questionnaire"))


def _valuesets() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for q in forms.catalogue().values():
        out.update({vs["id"]: vs for vs in forms.valuesets_for(q)})
    return out


@bp.get("/ValueSet/<vid>")
def read_valueset(vid: str):
    vs = _valuesets().get(vid)
    if vs is None:
        return error_response(404, f"no ValueSet/{vid} here")
    return _fhir(vs)


@bp.get("/ValueSet")
def search_valueset():
    url = (request.args.get("url") or "").split("|")[0]
    found = [vs for vs in _valuesets().values() if not url or vs["url"] == url]
    return _fhir(_searchset(found, "ValueSet"))
