"""The EHR screens under ``/ehr`` (server-rendered HTML, a little vanilla JS, no external assets)
and the JSON endpoints the order screen calls. Thin: the work is in ``workflow``.

CDS Hooks 2.0 client behaviour: order-select on selection, order-sign on sign, appointment-book on
schedule, cards with indicator/detail/links/suggestions, feedback on accept and override, SMART
links via EHR launch.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint, jsonify, render_template, request

from cds_service import state
from cds_service.clock import today_utc
from sandbox import state as sandbox_state
from sandbox.cdsclient import CdsError
from sandbox.ehr import patient_view, workflow
from sandbox.ehr.chart import summarize
from sandbox.ehr.orders import LATERALITY, SETTINGS, catalog
from sandbox.fhir.outcome import FhirError
from sandbox.keys import public_jwks
from sandbox.roster import display_name, patient_choices, scenario
from sandbox.seed.practice import STATES

bp = Blueprint("sandbox_ehr", __name__, url_prefix="/ehr", template_folder="../templates",
               static_folder="../static", static_url_path="/static")


@bp.context_processor
def _fhir_base():
    """The EHR's FHIR base: the ``iss`` of the coordinator queue's standalone launch link."""
    return {"fhir_base": f"{state.current().settings.base_url}/fhir"}


@bp.errorhandler(FhirError)
def _fhir_error(err: FhirError):
    if request.path.startswith("/ehr/api/"):
        return jsonify(error=err.issues[0]["diagnostics"]), err.status
    return render_template("sandbox/message.html", title="Not found", message=err.issues[0]["diagnostics"]), err.status


@bp.errorhandler(CdsError)
def _cds_error(err: CdsError):
    return jsonify(error=str(err)), 502


@bp.get("/")
def patients():
    return render_template("sandbox/patients.html", patients=patient_choices(state.current().db))


@bp.get("/patients/<pid>")
def chart(pid: str):
    summary = summarize(state.current().db, pid)
    return render_template("sandbox/chart.html", s=summary, name=display_name(summary.patient),
                           scenario=scenario(pid), pv=patient_view.fire(pid))


@bp.get("/patients/<pid>/order")
def order(pid: str):
    summary = summarize(state.current().db, pid)
    sc = scenario(pid)
    us_state = next((a.get("state") for a in summary.patient.get("address") or [] if a.get("state")), "TX")
    default = {"family": "esi", "code": "64483", "levels": 1, "laterality": "left", "pos": "24", "level": "L4-L5",
               **(sc.order if sc else {}), "state": us_state, "date": (today_utc() + timedelta(days=7)).isoformat()}
    return render_template("sandbox/order.html", s=summary, name=display_name(summary.patient), scenario=sc,
                           catalog=catalog(), settings=SETTINGS, states=sorted(STATES), laterality=list(LATERALITY),
                           default=default, draft_id=str(uuid.uuid4()))


@bp.get("/.well-known/jwks.json")
def jwks():
    return jsonify(public_jwks(sandbox_state.current().key))


def _json() -> dict:
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise FhirError(415, "Send a JSON object with Content-Type: application/json", "structure")
    return data


@bp.post("/api/hooks/order-select")
def api_select():
    d = _json()
    return jsonify(workflow.fire("order-select", str(d.get("patient")), d.get("encounter"), d.get("order") or {},
                                 prefetch=bool(d.get("prefetch"))))


@bp.post("/api/sign")
def api_sign():
    d = _json()
    return jsonify(workflow.sign(str(d.get("patient")), d.get("encounter"), d.get("order") or {},
                                 prefetch=bool(d.get("prefetch"))))


@bp.post("/api/schedule")
def api_schedule():
    d = _json()
    return jsonify(workflow.schedule(str(d.get("patient")), d.get("encounter"), str(d.get("order")),
                                     str(d.get("date") or ""), prefetch=bool(d.get("prefetch"))))


@bp.post("/api/override")
def api_override():
    d = _json()
    return jsonify(workflow.override(str(d.get("hookInstance")), str(d.get("card")), d.get("reason"), d.get("comment")))


@bp.post("/api/accept")
def api_accept():
    d = _json()
    return jsonify(workflow.accept(str(d.get("hookInstance")), str(d.get("card")), str(d.get("suggestion"))))


@bp.post("/api/launch")
def api_launch():
    d = _json()
    link = d.get("link")
    url = workflow.launch_url(d.get("hookInstance"), d.get("card"), int(link) if link is not None else None,
                              str(d.get("patient")), d.get("encounter"),
                              str(d["questionnaire"]) if d.get("questionnaire") else None)
    return jsonify(url=url)
