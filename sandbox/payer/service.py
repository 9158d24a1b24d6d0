"""The payer's work behind ``$submit`` and ``$inquire`` (Da Vinci PAS 2.2.1 §"Prior Authorization
Submission", §"Pended authorizations", §"Inquiry"), free of HTTP: decide by the rules, keep the
decision with the keys an inquiry matches on, make a pended decision final when its time comes and
tell the PAS topic's subscribers.

A pended decision is made final by whichever comes first: the timer started at submission, or any
later read of the payer ($inquire, the response Bundle) once it is due, so a restarted sandbox
still moves pended requests on. A conditional update makes exactly one of them the finaliser.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask
from sqlalchemy import update

from cds_service import state
from cds_service.clock import now_utc
from sandbox.fhir import store
from sandbox.fhir.params import compartment_patient
from sandbox.fhir.validate import validate
from sandbox.payer import answer, subscriptions
from sandbox.payer import decision as pas
from sandbox.payer.facts import Facts
from sandbox.payer.request import PasRequest, parse
from sandbox.payer.rules import decide, load_rules
from sandbox.payer.tables import PayerDecision

log = logging.getLogger(__name__)
MAC_PREFIX = {"TX": "JH", "OK": "JH", "NJ": "JL", "OH": "15", "AZ": "JF", "WA": "JF"}


def _idents(resource: dict) -> list[str]:
    return [f"{i.get('system', '')}|{i.get('value')}" for i in resource.get("identifier") or [] if i.get("value")]


def inquiry_keys(req: PasRequest) -> dict:
    """What identifies a request to an X12 278 inquiry: the patient (member identifiers, the
    coverage's subscriberId), the requesting provider's identifiers, the Claim's trace numbers and
    item codes; a local ``Patient/id`` only when the patient carries no identifier."""
    patient = _idents(req.patient) + [f"subscriberId|{v}" for v in [req.coverage.get("subscriberId")] if v]
    if not patient:
        patient = [f"local|{(req.claim.get('patient') or {}).get('reference', '')}"]
    return {"patient": patient, "provider": _idents(req.provider),
            "trace": _idents(req.claim),
            "codes": sorted({c.get("code") for item in req.claim.get("item") or []
                             for c in (item.get("productOrService") or {}).get("coding") or [] if c.get("code")})}


def _ehr_copy(s, req: PasRequest, response: dict, existing: str | None) -> str | None:
    """When the EHR relays the request (``/fhir/Claim/$submit``, the EHR as PAS intermediary) and the
    patient is one of its own, the decision is also written to its FHIR server, where painpa finds it
    on the chart like any decision on file (ARCHITECTURE.md). A request sent to ``/payer`` directly
    leaves the EHR alone: the submitter stores what it was answered."""
    pid = compartment_patient(req.claim)
    if not pid or not store.exists(s, "Patient", pid):
        return None
    if existing:   # the final decision replaces the pended one, for the Claim already on file
        request_ref = store.read(s, "ClaimResponse", existing)["request"]
    else:
        claim, _ = store.put(s, {**req.claim, "id": store.new_id()})
        request_ref = {"reference": f"Claim/{claim['id']}"}
    local = {**response, "id": existing or response["id"], "patient": req.claim["patient"],
             "insurer": req.claim.get("insurer") or response.get("insurer"),
             "requestor": req.claim.get("provider") or response.get("requestor"), "request": request_ref}
    local.pop("meta", None)
    stored, _ = store.put(s, validate(local, "ClaimResponse"))
    return stored["id"]


def submit(req: PasRequest, app: Flask, *, via_ehr: bool = False) -> dict:
    current = state.of(app)
    rules = load_rules(current.settings.home)
    now = now_utc()
    facts = Facts.of(req, current.policies, now.date())
    ruling = decide(rules, facts)
    response_id = store.new_id()
    utn = None if ruling.action == "A4" else pas.new_utn(MAC_PREFIX.get(facts.state or "", "09"))
    response = answer.claim_response(req, ruling, response_id=response_id, decided=now.date(), utn=utn)
    bundle = {**answer.bundle(req, response), "id": response_id}
    follow = ruling.then
    with current.db.session() as s:
        ehr = _ehr_copy(s, req, response, None) if via_ehr else None
        s.add(PayerDecision(
            id=response_id, request=req.bundle, response=bundle, keys=inquiry_keys(req), ehr_claim_response=ehr,
            created=now, due=now + timedelta(seconds=follow.after_seconds) if follow else None,
            follow_up={"action": follow.action, "reason": follow.reason, "reason_code": follow.reason_code,
                       "validity_days": ruling.validity_days} if follow else None,
            final=follow is None))
    if follow:
        timer = threading.Timer(follow.after_seconds + 0.05, finalize_due, args=(app,))
        timer.daemon = True
        timer.start()
    return bundle


def finalize_due(app: Flask) -> None:
    """Make every due pended decision final and notify its subscribers. Runs on a timer thread
    too, so it never raises: a failure is logged (without patient data) and retried on next read."""
    try:
        with app.app_context():
            _finalize_due(app)
    except Exception:  # noqa: BLE001 - a timer thread has no caller to raise to
        log.exception("finalising pended PAS decisions failed")


def _finalize_due(app: Flask) -> None:
    current = state.of(app)
    base = f"{current.settings.base_url}/payer"
    now = now_utc()
    with current.db.session() as s:
        due = [r.id for r in s.query(PayerDecision).filter(PayerDecision.final.is_(False),
                                                            PayerDecision.due <= now).all()]
    for decision_id in due:
        outgoing = []
        with current.db.session() as s:
            won = s.execute(update(PayerDecision).where(PayerDecision.id == decision_id, PayerDecision.final.is_(False))
                            .values(final=True)).rowcount
            if not won:
                continue
            row = s.get(PayerDecision, decision_id)
            req = parse(row.request)
            final = answer.final_decision(row.follow_up)
            utn = None if final.action == "A4" else pas.new_utn(
                MAC_PREFIX.get(Facts.of(req, None, now.date()).state or "", "09"))
            response = answer.claim_response(req, final, response_id=decision_id, decided=now.date(), utn=utn)
            row.response = {**answer.bundle(req, response), "id": decision_id}
            if row.ehr_claim_response:
                _ehr_copy(s, req, response, row.ehr_claim_response)
            orgs = {k.split("|", 1)[1] for k in row.keys.get("provider", [])}
            for sub in subscriptions.matching(s, orgs):
                sub.events += 1
                outgoing.append((sub, subscriptions.notification(sub, base, row.response)))
            s.flush()
            s.expunge_all()  # the rows leave the session loaded; the HTTP calls happen after the commit
        for sub, body in outgoing:
            if not subscriptions.send(sub, body, current.settings.base_url):
                with current.db.session() as s:
                    s.get(type(sub), sub.id).status = "error"


def _matches(keys: dict, wanted: dict, numbers: set[str], utn: str | None) -> bool:
    if not set(keys["patient"]) & set(wanted["patient"]):
        return False
    if wanted["provider"] and keys["provider"] and not set(keys["provider"]) & set(wanted["provider"]):
        return False
    return bool(set(keys["trace"]) & set(wanted["trace"]) or (utn and utn in numbers)
                or set(keys["codes"]) & set(wanted["codes"]))


def inquire(req: PasRequest, app: Flask) -> list[dict]:
    """The current response Bundles of the decisions an inquiry matches, newest first: same patient,
    same provider (when both name one), and the same trace number (system and value), a UTN given
    as an identifier or item authorizationNumber, or a shared item code."""
    finalize_due(app)
    wanted = inquiry_keys(req)
    numbers = {i.get("value") for i in req.claim.get("identifier") or []} | {
        ext.get("valueString") for item in req.claim.get("item") or [] for ext in item.get("extension") or []
        if ext.get("url", "").endswith("extension-authorizationNumber")}
    with state.of(app).db.session() as s:
        rows = s.query(PayerDecision).order_by(PayerDecision.created.desc()).all()
        return [row.response for row in rows
                if _matches(row.keys, wanted, numbers, row.response["entry"][0]["resource"].get("preAuthRef"))]


def response_bundle(decision_id: str, app: Flask) -> dict | None:
    finalize_due(app)
    with state.of(app).db.session() as s:
        row = s.get(PayerDecision, decision_id)
        return row.response if row else None
