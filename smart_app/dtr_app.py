"""painpa's SMART app as a DTR SMART app (DTR 2.2.0 specification.html "Launching DTR",
"Retrieving Questionnaire Packages", "Pre-Population", "User Interaction with Questionnaires",
"Storing QuestionnaireResponses"; spec-111..132).

``/smart/app/<sid>/dtr/<qid>?order=ServiceRequest/x``, in a session launched by the EHR with the
order in ``fhirContext`` (spec-113; the Coverage comes from ``fhirContext`` when the EHR sends it,
else from the order's coverage-information / the assessment, which spec-113 allows):

- the package: the DTR Questionnaire and the starting QuestionnaireResponse from painpa's DTR
  payer service (:mod:`cds_service.dtr`; same deployment, so in process);
- pre-population from the EHR (x-fhir-query + FHIRPath, :mod:`smart_app.dtr_populate`): each
  answer found is shown as pre-populated (origin ``auto``) and saved at once as a QuestionnaireResponse
  ``in-progress`` in the EHR (spec-131/132: the clinician reviews before completing);
- on submit: every answer's information origin (auto / override / manual with the author), the
  QuestionnaireResponse updated to ``completed`` and, in the same transaction, the discrete resources
  the policy reads (the form's SDC extraction, as painpa's fix forms do), so the next hook call sees
  the fix.

A launch whose ``fhirContext`` names a Questionnaire canonical (SMART 2.2 fhirContext
``canonical``; DTR "Retrieving Questionnaire Packages": "If a Questionnaire was identified") or an
in-progress QuestionnaireResponse (spec-113, relaunch) opens that form for the order in context
(:func:`launch_target`). An in-progress response is resumed (spec-71/72, spec-151): its answers and
their origins shown again, saved again with "Save and finish later" (create, then update: spec-153).

The form screen is painpa's own (``smart/form.html``); the DTR Questionnaire and the stored form ask
the same questions (tests/dtr/test_forms.py), the stored one also knowing how to extract.
"""

from __future__ import annotations

import uuid
from copy import deepcopy
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from flask import Blueprint, redirect, render_template, request, url_for

from cds_service import state
from cds_service.clock import today_utc
from cds_service.dtr import forms as dtr_forms
from cds_service.dtr.package import PackageInput, bundle, intended_use
from smart_app import forms, questionnaires
from smart_app import session as sess
from smart_app.context import split_canonical
from smart_app.discovery import LaunchError
from smart_app.dtr_populate import (
    PopulationError,
    mark_origins,
    populate,
    questionnaire_response,
    resume,
    saved_answers,
)
from smart_app.extract import ExtractionError, extract
from smart_app.fhir import AppFhir
from smart_app.validate import invalid_resources
from smart_app.worklist import build


def _fetch(fhir: AppFhir):
    """x-fhir-query through the app's FHIR access (relative to iss: never another host)."""
    def fetch(query: str) -> dict:
        rtype, _, qs = query.partition("?")
        if "/" in rtype or ":" in rtype:
            raise PopulationError(f"x-fhir-query {rtype!r} is not a search of this EHR")
        found = fhir.search(rtype, dict(parse_qsl(qs)))
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}
    return fetch


def _package(qid: str, det, session) -> tuple[dict, dict]:
    """(DTR Questionnaire, starting QuestionnaireResponse) as the payer service packages them."""
    q = dtr_forms.catalogue().get(qid)
    if q is None:
        raise LaunchError("There is no such DTR form; go back to the worklist.", 404)
    coverage = next(iter(session.context.references_of("Coverage")), None) or det.coverage_ref
    if not coverage:
        raise LaunchError("The EHR gave no coverage for this order, and DTR documents for a payer; "
                          "record the patient's coverage and relaunch.", 400)
    rtype, _, rid = det.order_ref.partition("/")
    pin = PackageInput(coverage={"resourceType": "Coverage", "id": coverage.split("/")[-1]},
                       patient_id=session.context.patient, orders=({"resourceType": rtype, "id": rid},),
                       canonicals=(q["url"],), context=None, changed_since=None, others=())
    start = bundle(q, pin, state.current().settings.base_url + "/dtr", intended_use([det]))["entry"][-1]["resource"]
    start.pop("id", None)
    return q, start


def form_of(canonical: str) -> str:
    """The painpa DTR form a Questionnaire canonical names (its id), else a :class:`LaunchError` in words."""
    try:
        return dtr_forms.by_canonical(canonical)["id"]
    except dtr_forms.UnknownQuestionnaire:
        pass
    url, version = split_canonical(canonical)
    served = next((q for q in dtr_forms.catalogue().values() if q["url"] == url), None)
    if served is not None:
        raise LaunchError(f"The EHR asked for version {version} of the form \u201c{served['title']}\u201d; painpa "
                          f"provides version {served['version']}. Open the form again from the order so the EHR "
                          "fetches the current one.", 404)
    raise LaunchError("The EHR opened painpa on a documentation form painpa does not provide "
                      f"({url[:200]}). Open the order's documentation from the worklist instead.", 404)


def launch_target(session) -> str | None:
    """Where a DTR launch opens: the form named in ``fhirContext`` (an in-progress QuestionnaireResponse
    to resume, else a Questionnaire canonical) for the order in context; None: the worklist."""
    context = session.context
    qr_ref = next(iter(context.references_of("QuestionnaireResponse")), None)
    orders = context.references_of("ServiceRequest")
    if qr_ref:
        qr = session.fhir().read(qr_ref)
        if qr.get("status") != "in-progress":
            raise LaunchError("The EHR reopened a documentation form that is no longer in progress (it was "
                              "completed or stopped); DTR does not reuse it. Open the order's documentation "
                              "from the worklist to start again.", 409)
        qid = form_of(str(qr.get("questionnaire") or ""))
        orders = orders or [r for e in qr.get("extension") or () if str(e.get("url", "")).endswith("qr-context")
                            for r in [e.get("valueReference", {}).get("reference", "")] if r.startswith("ServiceRequest/")]
    elif context.questionnaires:
        qid = form_of(context.questionnaires[0])
    else:
        return None
    if not orders:
        raise LaunchError("The EHR opened a documentation form without the order it documents; open it from "
                          "the order in the EHR.", 400)
    return url_for("smart.dtr_form", sid=session.sid, qid=qid, order=orders[0])


def _in_progress(fhir: AppFhir, start: dict) -> dict | None:
    """This order's in-progress DTR QuestionnaireResponse for this form, if one was saved."""
    contexts = {e["valueReference"]["reference"] for e in start["extension"] if e["url"].endswith("qr-context")}
    for qr in fhir.search("QuestionnaireResponse", {"subject": start["subject"]["reference"]}):
        mine = {e.get("valueReference", {}).get("reference") for e in qr.get("extension") or ()
                if str(e.get("url", "")).endswith("qr-context")}
        if qr.get("status") == "in-progress" and qr.get("questionnaire") == start["questionnaire"] and mine == contexts:
            return qr
    return None


def _nothing_required(questionnaire: dict) -> dict:
    """The form as an in-progress save reads it: every answer optional, every other check kept."""
    copy = deepcopy(questionnaire)
    for item in questionnaires.walk(copy.get("item") or []):
        item.pop("required", None)
    return copy


def _entry(qr: dict) -> dict:
    """The QuestionnaireResponse's transaction entry: an update of the in-progress one, else a create."""
    method = {"method": "PUT", "url": f"QuestionnaireResponse/{qr['id']}"} if qr.get("id") else \
        {"method": "POST", "url": "QuestionnaireResponse"}
    return {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": qr, "request": method}


def install(bp: Blueprint) -> None:
    bp.add_url_rule("/smart/app/<sid>/dtr/<qid>", "dtr_form", dtr_form, methods=["GET", "POST"])


def dtr_form(sid: str, qid: str):
    session = sess.load(sid)
    sess.redeem_card(session)
    fhir = session.fhir()
    wl = build(fhir, session.context, session.card, today_utc())
    order_ref = request.values.get("order") or next(iter(session.context.references_of("ServiceRequest")), "")
    det = wl.determination(order_ref) if order_ref else None
    if det is None:
        raise LaunchError("DTR needs the order it documents; launch from the order in the EHR.", 400)
    dtr_q, start = _package(qid, det, session)
    stored = questionnaires.get(qid)
    env = forms.environment(wl, det, session.context, state.current().policies, session.iss, "")
    launch = {"patient": wl.patient or {"resourceType": "Patient", "id": session.context.patient}}
    try:
        auto = populate(dtr_q, launch, _fetch(fhir))
    except PopulationError as exc:
        auto, note = {}, f"Pre-population failed ({exc}); answer the questions yourself."
    else:
        note = ""
    author = session.context.fhir_user
    now = datetime.now(UTC).isoformat(timespec="seconds")
    common = {"patient": start["subject"]["reference"], "coverage": start["extension"][0]["valueReference"]["reference"],
              "orders": [order_ref], "author": author, "authored": now,
              "intended_use": start["extension"][-1]["valueCodeableConcept"]["coding"][0]["code"]}
    draft = _in_progress(fhir, start)
    saved, previous = saved_answers(draft) if draft else ({}, {})
    resumed, shown = resume(saved, previous, auto)
    errors: dict[str, str] = {}
    answers = {**forms.initial_answers(stored, env), **resumed}
    if request.method == "POST":
        session.check_csrf(request.form.get("csrf"))
        later = request.form.get("action") == "later"     # in progress: nothing is required yet (spec-151)
        answers, errors = forms.parse(_nothing_required(stored) if later else stored, request.form, env)
        if later and not errors:
            qr = questionnaire_response(dtr_q, answers, mark_origins(dtr_q, answers, auto, author=author,
                                                                     previous=previous),
                                        status="in-progress", qr_id=(draft or {}).get("id"), **common)
            fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [_entry(qr)]})
            return redirect(url_for("smart.dtr_form", sid=sid, qid=qid, order=order_ref, kept=1), code=303)
        if not errors:
            origins = mark_origins(dtr_q, answers, auto, author=author, previous=previous)
            qr = questionnaire_response(dtr_q, answers, origins, status="completed",
                                        qr_id=(draft or {}).get("id"), **common)
            errors = _complete(fhir, stored, qr, answers, env)
        if not errors:
            return redirect(url_for("smart.worklist", sid=sid, saved=stored["title"]), code=303)
    elif auto and draft is None:       # saved for review before anything is typed (in-progress)
        origins = mark_origins(dtr_q, auto, auto, author=author)
        draft_qr = questionnaire_response(dtr_q, auto, origins, status="in-progress", **common)
        fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [_entry(draft_qr)]})
    labels = {i["linkId"]: i.get("text", i["linkId"]) for i in questionnaires.walk(stored["item"])}
    origins = [(link, labels.get(link, link), ", ".join(questionnaires.answer_label(a) for a in vals), shown[link])
               for link, vals in resumed.items()]
    return render_template("smart/dtr_form.html", s=session, q=stored, det=det, order_ref=order_ref, requirement="",
                           back=url_for("smart.worklist", sid=sid), back_label="Back to worklist", encounter=False,
                           items=forms.view(stored, answers, env), errors=errors, origins=origins,
                           resumed=draft is not None and bool(saved), kept=bool(request.args.get("kept")),
                           note=note, package_url=dtr_q["url"]), (422 if errors else 200)


def _complete(fhir: AppFhir, stored: dict, qr: dict, answers: dict, env: dict) -> dict[str, str]:
    """The completed QuestionnaireResponse, the resources the form extracts and the order's links to
    them, in one transaction through the app's one writer (retried on a version conflict of the
    order, :func:`smart_app.forms.write`); errors as {linkId|_form: text}, nothing written then."""
    try:
        extracted = extract(stored, qr, env)
    except ExtractionError as exc:
        return {"_form": f"This form cannot be saved (its extraction rules are broken: {exc})."}
    problems = invalid_resources([qr, *(r for _, r, _ in extracted)])
    if problems:
        return {"_form": "Nothing was saved: " + "; ".join(problems)}
    entries = [_entry(qr), *({"fullUrl": url, "resource": res, "request": {"method": "POST", "url": res["resourceType"]}}
                             for url, res, _ in extracted)]
    return forms.write(fhir, stored, answers, entries, extracted, env)
