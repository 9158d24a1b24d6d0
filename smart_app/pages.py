"""What every blueprint serving SMART app pages shares (this app's worklist and the chronic pain
management page of cds_service/chronic_pain/page.py): the security headers of a page framed by the
EHR (standards.md §5.5), the error pages for a bad launch, a failed FHIR call or an unknown form (a
clear message, never a 500), and the fix-form page itself — render, validate, save as one transaction,
return to the page it was opened from — for an order or, with no order, for the patient
(patient-level forms).
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from smart_app import describe, forms, security
from smart_app import session as session_mod
from smart_app.discovery import LaunchError
from smart_app.fhir import FhirAccessError


def _error_page(message: str, status: int):
    return render_template("smart/error.html", message=message, s=_session_of_page()), status


def _session_of_page():
    """The session of the page that failed, when this browser holds it: the error names the patient
    the window is on. None for a failed launch, a session of another browser, an unreadable chart."""
    sid = (request.view_args or {}).get("sid")
    if not sid:
        return None
    try:
        return session_mod.load(sid)
    except (LaunchError, FhirAccessError):
        return None


def patient_banner(patient: dict | None, session=None) -> describe.Banner | None:
    """The banner of a page: the patient it read, else the one its session launched with."""
    if patient:
        return describe.banner(patient)
    stored = getattr(session, "banner", None)
    return describe.Banner(**stored) if stored else None


def check_patient(session, posted: str | None) -> None:
    """A page names the patient it was rendered for; data for another patient than the launch's is
    refused, whichever tab it comes from."""
    if posted is not None and posted != session.context.patient:
        raise LaunchError("This page was opened for another patient than the one this app window was launched "
                          "for; nothing was saved. Reopen the app from the right patient's chart.", 409)


def install(bp: Blueprint) -> None:
    """Give ``bp`` the app's response headers and error pages."""
    bp.after_request(security.headers)
    bp.add_app_template_global(patient_banner)
    bp.add_app_template_global(describe, "words")
    bp.register_error_handler(LaunchError, lambda err: _error_page(err.message, err.status))
    bp.register_error_handler(FhirAccessError, lambda err: _error_page(err.message, err.status))
    bp.register_error_handler(forms.UnknownForm, lambda err: _error_page(
        f"There is no form {str(err)[:60]!r}; go back to the worklist.", 404))


def form_page(session, questionnaire: dict, env: dict, *, det, back: str, back_label: str,
              order_ref: str = "", requirement: str = ""):
    """GET renders the form pre-populated from ``env``; POST validates, saves and redirects (303) to
    the ``back`` endpoint with ``saved``, or re-renders with the answers kept and the errors (422).
    ``det`` None: a patient-level form (``env`` from :func:`smart_app.forms.environment` with no order)."""
    errors: dict[str, str] = {}
    answers = forms.initial_answers(questionnaire, env)
    if request.method == "POST":
        session.check_csrf(request.form.get("csrf"))
        check_patient(session, request.form.get("patient"))
        answers, errors = forms.parse(questionnaire, request.form, env)
        if not errors:
            errors = forms.save(session.fhir(), questionnaire, answers, env)
        if not errors:
            return redirect(url_for(back, sid=session.sid, saved=questionnaire["title"]), code=303)
    return render_template("smart/form.html", s=session, q=questionnaire, det=det, order_ref=order_ref, order=env.get("order"),
                           requirement=requirement, back=url_for(back, sid=session.sid), back_label=back_label,
                           encounter=bool(env.get("encounter")),
                           items=forms.view(questionnaire, answers, env), errors=errors), (422 if errors else 200)
