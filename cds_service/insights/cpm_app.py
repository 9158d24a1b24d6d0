"""The SMART app's chronic pain management page (G3002/G3003, domain.md §4): this month's status for
the launched patient and the two forms that complete it, ``cpm-time`` and ``cpm-careplan`` (FHIR
Questionnaires rendered, validated, extracted and saved by the app's own form machinery, SDC
template extraction), under ``/smart/app/<sid>/cpm``. Patient-level: no order is involved.

It reuses the app's session (token kept server-side, CSRF), its FHIR client (reads under the
launch ``iss`` only) and its form renderer; only the month logic is this module's.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from cds_service.insights.cpm_queries import QUERIES
from cds_service.policy.cpm import month_status
from cds_service.policy.record import PatientRecord

bp = Blueprint("cpm_app", __name__, template_folder="templates")


class _Subject(SimpleNamespace):
    """What the app's form template reads from an order's determination; anything else it asks
    for renders empty rather than failing (the template belongs to the app and evolves)."""

    def __getattr__(self, name: str) -> str:
        return ""
FORMS = ("cpm-time", "cpm-careplan")


def _record(session) -> PatientRecord:
    fhir, pid = session.fhir(), session.context.patient
    resources: list[dict] = []
    for q in QUERIES:
        path, _, query = q.template.replace("{{context.patientId}}", pid).partition("?")
        if not query:
            resources.append(fhir.read(path))
            continue
        params = dict(p.split("=", 1) for p in query.split("&"))
        resources.extend(fhir.search(q.resource_type, params))
    return PatientRecord.from_resources(resources)


def _env(session, record: PatientRecord) -> dict:
    pid, ctx = session.context.patient, session.context
    author = {"reference": ctx.fhir_user} if getattr(ctx, "fhir_user", None) else {}
    return {
        "patient": record.patient or {"resourceType": "Patient", "id": pid},
        "record": {"resourceType": "Bundle", "type": "collection",
                   "entry": [{"resource": r} for rs in record.resources.values() for r in rs.values()]},
        "subject": {"reference": f"Patient/{pid}"},
        # The app's QuestionnaireResponse names its context (DTR qr-context); a CPM form has no
        # order, so it names the encounter of the launch, else the patient.
        "orderRef": {"reference": f"Encounter/{ctx.encounter}" if ctx.encounter else f"Patient/{pid}"},
        "encounter": {"reference": f"Encounter/{ctx.encounter}"} if ctx.encounter else {},
        "author": author, "today": date.today().isoformat(),
    }


@bp.get("/smart/app/<sid>/cpm")
def status(sid: str):
    from smart_app import session as sess

    session = sess.load(sid)
    record = _record(session)
    result = month_status(record, current_app.extensions["painpa.policies"], date.today())
    return render_template("smart/cpm.html", s=session, status=result, forms=FORMS,
                           saved=request.args.get("saved"))


@bp.route("/smart/app/<sid>/cpm/form/<qid>", methods=["GET", "POST"])
def form(sid: str, qid: str):
    from smart_app import forms
    from smart_app import session as sess
    from smart_app.discovery import LaunchError

    if qid not in FORMS:
        raise LaunchError("That form is not a chronic pain management form.", 404)
    session = sess.load(sid)
    questionnaire = forms.get(qid)
    env = _env(session, _record(session))
    errors: dict[str, str] = {}
    answers = forms.initial_answers(questionnaire, env)
    if request.method == "POST":
        session.check_csrf(request.form.get("csrf"))
        answers, errors = forms.parse(questionnaire, request.form, env)
        if not errors:
            errors = forms.save(session.fhir(), questionnaire, answers, env)
        if not errors:
            return redirect(url_for("cpm_app.status", sid=sid, saved=questionnaire["title"]), code=303)
    # The app's form page names an order; a CPM form stands for the month's G3002/G3003 instead.
    subject = _Subject(order_ref="", codes=("G3002", "G3003"), family="cpm",
                       program=SimpleNamespace(label="chronic pain management, this calendar month"))
    return render_template("smart/form.html", s=session, q=questionnaire, det=subject, order_ref="",
                           requirement="", items=forms.view(questionnaire, answers, env),
                           errors=errors), (422 if errors else 200)
