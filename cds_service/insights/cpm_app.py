"""The SMART app's chronic pain management page (G3002/G3003, domain.md §4): this month's status for
the launched patient and the two forms that complete it, ``cpm-time`` and ``cpm-careplan`` (FHIR
Questionnaires rendered, validated, extracted and saved by the app's own form page, SDC template
extraction), under ``/smart/app/<sid>/cpm``. Patient-level: no order is involved, so the forms'
QuestionnaireResponse names the launch encounter, else the patient.

It reuses the app's session (token kept server-side, CSRF), its page plumbing (headers, error
pages, the form page) and the same ``gather`` as the CDS service with this service's own query list;
only the month logic is this module's (in :mod:`cds_service.policy.cpm`).
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from cds_service.clock import today_utc
from cds_service.fhir.gather import gather
from cds_service.insights.cpm_queries import QUERIES
from cds_service.policy.cpm import month_status
from smart_app import forms, pages
from smart_app import session as sess
from smart_app.discovery import LaunchError
from smart_app.worklist import Worklist, policies

bp = Blueprint("cpm_app", __name__, template_folder="templates")
pages.install(bp)
FORMS = ("cpm-time", "cpm-careplan")


def _chart(session: sess.AppSession) -> Worklist:
    """The patient's chart for the month logic: a worklist with no orders."""
    fhir, ctx = session.fhir(), session.context
    record = gather(patient_id=ctx.patient, settings=current_app.extensions["painpa.settings"],
                    fhir_server=fhir.base, access_token=fhir.token, queries=QUERIES,
                    context={"encounterId": ctx.encounter} if ctx.encounter else None)
    return Worklist(patient=record.patient, orders=[], determinations=[], record=record)


@bp.get("/smart/app/<sid>/cpm")
def status(sid: str):
    session = sess.load(sid)
    chart = _chart(session)
    result = month_status(chart.record, policies(current_app), today_utc())
    return render_template("smart/cpm.html", s=session, status=result, forms=FORMS,
                           unread=sorted(chart.record.incomplete), saved=request.args.get("saved"))


@bp.route("/smart/app/<sid>/cpm/form/<qid>", methods=["GET", "POST"])
def form(sid: str, qid: str):
    session = sess.load(sid)
    if qid not in FORMS:
        raise LaunchError("That form is not a chronic pain management form.", 404)
    env = forms.environment(_chart(session), None, session.context, session.iss)
    return pages.form_page(session, forms.get(qid), env, det=None, back="cpm_app.status",
                           back_label="Back to chronic pain management")
