"""The SMART app's chronic pain management page (G3002/G3003, domain.md §4): this month's status for
the launched patient and the two forms that complete it, ``cpm-time`` and ``cpm-careplan`` (FHIR
Questionnaires rendered, validated, extracted and saved by the app's own form page, SDC template
extraction), under ``/smart/app/<sid>/cpm``. Patient-level: no order is involved, so the forms'
QuestionnaireResponse names the launch encounter, else the patient.

It reuses the app's session (token kept server-side, CSRF), its page plumbing (headers, error
pages, the form page) and the same readiness assessment as the CDS service, with this service's
own query list (:mod:`smart_app.worklist`'s ``patient_chart``); the month logic is
:mod:`cds_service.policy.cpm`'s, the same the card reads.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from cds_service import state
from cds_service.chronic_pain.card import FORMS
from cds_service.chronic_pain.queries import QUERIES
from cds_service.clock import today_utc
from cds_service.policy.cpm import month_status
from smart_app import forms, pages, worklist
from smart_app import session as sess
from smart_app.discovery import LaunchError

bp = Blueprint("cpm_app", __name__, template_folder="templates")
pages.install(bp)


@bp.get("/smart/app/<sid>/cpm")
def status(sid: str):
    session = sess.load(sid)
    today = today_utc()
    chart = worklist.patient_chart(session.fhir(), session.context, today, QUERIES)
    result = month_status(chart.record, state.current().policies, today)
    return render_template("smart/cpm.html", s=session, status=result, forms=FORMS,
                           unread=sorted(chart.record.incomplete), saved=request.args.get("saved"))


@bp.route("/smart/app/<sid>/cpm/form/<qid>", methods=["GET", "POST"])
def form(sid: str, qid: str):
    session = sess.load(sid)
    if qid not in FORMS:
        raise LaunchError("That form is not a chronic pain management form.", 404)
    chart = worklist.patient_chart(session.fhir(), session.context, today_utc(), QUERIES)
    env = forms.environment(chart, None, session.context, state.current().policies, session.iss)
    return pages.form_page(session, forms.get(qid), env, det=None, back="cpm_app.status",
                           back_label="Back to chronic pain management")
