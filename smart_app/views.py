"""HTTP surface of the SMART documentation app (SMART App Launch 2.2 EHR and standalone launch,
redirect ``{base-url}/smart/callback``, JWKS at ``/.well-known/jwks.json``; ARCHITECTURE.md contract;
standards.md §5, §9.3). Views stay thin: launch and tokens in :mod:`smart_app.oauth`, the worklist in
:mod:`smart_app.worklist`, forms in :mod:`smart_app.forms`, packets in :mod:`smart_app.packet`.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for

from cds_service import state
from cds_service.clock import today_utc
from smart_app import dtr_app, forms, keys, oauth, packet, pages, pas, pas_watch, questionnaires, queue
from smart_app import session as sess
from smart_app.discovery import LaunchError
from smart_app.worklist import build

bp = Blueprint("smart", __name__, template_folder="templates", static_folder="static",
               static_url_path="/smart/static")
pages.install(bp)
dtr_app.install(bp)   # the same app as a DTR SMART app (smart_app/dtr_app.py)


@bp.get("/.well-known/jwks.json")
def jwks():
    app = state.current()
    try:
        resp = jsonify(keys.public_jwks(app.db, app.settings))
    except keys.KeysUnreadable as exc:
        # The EHR reads this as JSON: the reason, not the app's HTML error page, and nothing cached.
        resp = jsonify({"error": "keys_unreadable", "error_description": exc.message})
        resp.status_code = exc.status
        resp.headers["Cache-Control"] = "no-store"
        return resp
    # keys.SIGNING_LEAD publishes a new key longer than this before it signs.
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/smart/launch")
def launch():
    iss = request.args.get("iss", "").strip()
    if not iss:
        return render_template("smart/start.html")
    if len(iss) > 1024 or len(request.args.get("launch", "")) > 2048:
        raise LaunchError("The launch parameters are too long.", 400)
    bid = sess.new_browser_id()   # never one the browser brings: it may have been planted
    app = state.current()
    url, launch_state = oauth.start(app.db, app.settings, iss=iss, launch=request.args.get("launch") or None,
                                    browser_id=bid, practitioner=request.args.get("queue") == "1")
    resp = redirect(url, code=302)
    resp.set_cookie(sess.launch_cookie(launch_state), bid, max_age=oauth.PENDING_TTL_S,
                    **sess.cookie_kwargs("/smart/callback"))
    return resp


@bp.get("/smart/callback")
def callback():
    app = state.current()
    launch_state = request.args.get("state")
    bid = sess.new_browser_id()   # rotated: the session's cookie is not the launch's
    sid = oauth.complete(app.db, app.settings, browser_id=sess.launch_browser_id(launch_state),
                         session_browser_id=bid, state=launch_state, code=request.args.get("code"),
                         error=request.args.get("error"))
    first = "smart.opening" if sess.opens_on_form(sid) else "smart.worklist"
    resp = redirect(url_for(first, sid=sid), code=303)
    resp.set_cookie(sess.BROWSER_COOKIE, bid, max_age=oauth.SESSION_TTL_S, **sess.cookie_kwargs(sess.session_path(sid)))
    resp.delete_cookie(sess.launch_cookie(launch_state), **sess.cookie_kwargs("/smart/callback"))
    return resp


@bp.get("/smart/app/<sid>/open")
def opening(sid: str):
    """The first page of a DTR launch on one form: that form for the order in context (DTR 2.2
    spec-113, "Retrieving Launch Context Information"), else the worklist."""
    session = sess.load(sid)
    target = dtr_app.launch_target(session) if session.context.patient else None
    return redirect(target or url_for("smart.worklist", sid=sid), code=303)


def _worklist(session: sess.AppSession):
    sess.redeem_card(session)
    wl = build(session.fhir(), session.context, session.card, today_utc())
    sess.remember_patient(session, wl.patient)
    return wl


@bp.get("/smart/app/<sid>")
def worklist(sid: str):
    session = sess.load(sid)
    if not session.context.patient:   # a practitioner launch: the coordinator queue
        return redirect(url_for("smart.queue_page", sid=sid), code=303)
    wl = _worklist(session)
    return render_template("smart/worklist.html", s=session, wl=wl, forms=forms.catalogue(),
                           form_for=forms.form_for, saved=request.args.get("saved"))


@bp.route("/smart/app/<sid>/form/<qid>", methods=["GET", "POST"])
def form(sid: str, qid: str):
    """A fix form for an order of the worklist (``order``), or a patient-level form without one."""
    session = sess.load(sid)
    questionnaire = forms.get(qid)
    order_ref = request.values.get("order", "")
    requirement = request.values.get("requirement", "")
    wl = _worklist(session)
    det = wl.determination(order_ref) if order_ref else None
    if order_ref and det is None:
        raise LaunchError("That order is not in this worklist; go back to the worklist.", 404)
    if det is None and questionnaires.needs_order(questionnaire):
        raise LaunchError("This form records something about an order; open it from the order in the worklist.", 400)
    env = forms.environment(wl, det, session.context, state.current().policies, session.iss, requirement)
    return pages.form_page(session, questionnaire, env, det=det, back="smart.worklist", back_label="Back to worklist",
                           order_ref=order_ref, requirement=requirement)


@bp.get("/smart/app/<sid>/packet")
def packet_html(sid: str):
    session = sess.load(sid)
    wl = _worklist(session)
    return render_template("smart/packet.html", s=session, p=packet.build(wl, request.args.get("order")))


@bp.get("/smart/app/<sid>/packet.pdf")
def packet_pdf(sid: str):
    session = sess.load(sid)
    pdf = packet.pdf(packet.build(_worklist(session), request.args.get("order")))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="pa-packet.pdf"'})


@bp.post("/smart/app/<sid>/pas")
def pas_submit(sid: str):
    session = sess.load(sid)
    session.check_csrf(request.form.get("csrf"))
    pages.check_patient(session, request.form.get("patient"))
    wl = _worklist(session)
    result = pas.submit(state.current().db, session.fhir(), wl, request.form.get("order", ""),
                        watch=pas_watch.watcher(session.key))
    return redirect(url_for("smart.worklist", sid=sid, saved=result), code=303)


@bp.get("/smart/app/<sid>/queue")
def queue_page(sid: str):
    session = sess.load(sid)
    if session.context.patient:
        raise LaunchError("The coordinator queue opens from its own sign-in (no patient); this window is on "
                          "one patient.", 400)
    program, clinician = request.args.get("program", "")[:100], request.args.get("clinician", "")[:200]
    q = queue.build(session.fhir(), today_utc(), program=program, clinician=clinician)
    return render_template("smart/queue.html", s=session, q=q, program=program, clinician=clinician)


@bp.get("/smart/app/<sid>/queue/open")
def queue_open(sid: str):
    """A row of the queue: that patient's worklist, in a session of its own (own cookie path)."""
    session = sess.load(sid)
    patient = request.args.get("patient", "")
    if not patient or len(patient) > 64 or "/" in patient:
        raise LaunchError("Choose a patient from the queue.", 400)
    bid = sess.new_browser_id()
    child = sess.open_patient(session, patient, request.args.get("order", "")[:200], bid)
    resp = redirect(url_for("smart.worklist", sid=child), code=303)
    resp.set_cookie(sess.BROWSER_COOKIE, bid, max_age=oauth.SESSION_TTL_S, **sess.cookie_kwargs(sess.session_path(child)))
    return resp


@bp.get("/smart/app/<sid>/pas/status")
def pas_status(sid: str):
    """The order's PA state for the page that shows it pended; asks the payer when painpa follows
    the request by polling (smart_app.pas_watch)."""
    session = sess.load(sid)
    wl = _worklist(session)
    det = wl.determination(request.args.get("order", ""))
    if det is None:
        raise LaunchError("That order is not in this worklist; go back to the worklist.", 404)
    updated = None
    if det.prior_auth.state == "pended" and det.prior_auth.decision_ref:
        fhir = session.fhir()
        updated = pas_watch.refresh(state.current().db, fhir, fhir.read(det.prior_auth.decision_ref), poll=True)
        if updated:
            det = _worklist(session).determination(det.order_ref)
    pa = det.prior_auth
    said = None if pa.state == "pended" else updated or (
        f"The payer has decided: prior authorization {pa.state}" + (f", UTN {pa.utn}" if pa.utn else ""))
    return jsonify({"state": str(pa.state), "utn": pa.utn, "updated": updated, "message": said})


@bp.post("/smart/pas/notify/<token>")
def pas_notify(token: str):
    """The rest-hook endpoint of painpa's PAS-topic subscriptions (Subscriptions R4 Backport IG)."""
    status, message = pas_watch.notified(token, request.get_json(silent=True, force=True))
    return jsonify({"status": message}), status
