"""What every blueprint serving SMART app pages shares (this app's worklist and the chronic pain
management page of cds_service/chronic_pain/page.py): the security headers of a page framed by the
EHR (standards.md §5.5), the error pages for a bad launch, a failed FHIR call or an unknown form (a
clear message, never a 500), and the fix-form page itself — render, validate, save as one transaction,
return to the page it was opened from — for an order or, with no order, for the patient
(patient-level forms).
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from smart_app import forms, security
from smart_app.discovery import LaunchError
from smart_app.fhir import FhirAccessError


def _error_page(message: str, status: int):
    return render_template("smart/error.html", message=message), status


def install(bp: Blueprint) -> None:
    """Give ``bp`` the app's response headers and error pages."""
    bp.after_request(security.headers)
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
        answers, errors = forms.parse(questionnaire, request.form, env)
        if not errors:
            errors = forms.save(session.fhir(), questionnaire, answers, env)
        if not errors:
            return redirect(url_for(back, sid=session.sid, saved=questionnaire["title"]), code=303)
    return render_template("smart/form.html", s=session, q=questionnaire, det=det, order_ref=order_ref,
                           requirement=requirement, back=url_for(back, sid=session.sid), back_label=back_label,
                           encounter=bool(env.get("encounter")),
                           items=forms.view(questionnaire, answers, env), errors=errors), (422 if errors else 200)
