"""Following a pended Da Vinci PAS decision to its final answer (PAS 2.2.1 §"Pended authorizations":
the provider learns of the final decision through a subscription to the PAS topic, or by
``Claim/$inquire``; Subscriptions R4 Backport IG §"Subscription", rest-hook channel).

When the payer pends, painpa creates a rest-hook Subscription to the PAS topic at the payer, its
endpoint ``/smart/pas/notify/<token>`` (the token signed with the app's secret: which app session
and which request it is about). A notification is only a signal: painpa then asks the payer itself
with ``$inquire`` (its registered base) and writes the final ClaimResponse over the pended one in
the EHR, with the session's own token. When the payer takes no subscription, or its handshake
could not reach painpa, the worklist page asks through :func:`refresh` while it shows the order
pended.
How the decision is followed is recorded on the stored ClaimResponse (extension ``pas-watch``).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import UTC, datetime

import requests
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from cds_service import state
from smart_app import chart_writes, oauth, pas
from smart_app.discovery import LaunchError
from smart_app.fhir import AppFhir, FhirAccessError
from smart_app.registry import is_registered_base
from smart_app.tables import SmartSession

WATCH = "http://painpa.org/fhir/StructureDefinition/pas-watch"
TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
TOKEN_MAX_AGE_S = 30 * 86400
SUBSCRIBED_GRACE_S = 120    # a subscribed decision is also asked for when no notification came by then
log = logging.getLogger(__name__)


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="painpa-pas-notify")


def _watch_of(claim_response: dict) -> dict:
    ext = next((e for e in claim_response.get("extension") or [] if e.get("url") == WATCH), None)
    return {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in (ext or {}).get("extension") or []}


def _mark(claim_response: dict, payer: str, mode: str, subscription: str | None) -> dict:
    parts = [{"url": "payer", "valueUrl": payer}, {"url": "mode", "valueCode": mode}]
    if subscription:
        parts.append({"url": "subscription", "valueString": subscription})
    others = [e for e in claim_response.get("extension") or [] if e.get("url") != WATCH]
    return {**claim_response, "extension": [*others, {"url": WATCH, "extension": parts}]}


def watcher(session_key: str):
    """The ``watch`` of :func:`smart_app.pas.submit` for this app session."""
    def watch(stored: dict, address: str) -> dict:
        trace = next((i.get("value") for i in stored.get("identifier") or [] if i.get("system") == pas.TRACE_SYSTEM), "")
        # Signed, not encrypted, and it will be in access logs: the session row's key and a random
        # trace number, never a patient identifier.
        token = _signer().dumps({"k": session_key, "t": trace})
        endpoint = f"{state.current().settings.base_url}/smart/pas/notify/{token}"
        sub = {"resourceType": "Subscription", "status": "requested", "criteria": TOPIC,
               "reason": "painpa follows a pended prior-authorization request",
               "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
                           "_payload": {"extension": [{"url": f"{BACKPORT}/backport-payload-content",
                                                       "valueCode": "full-resource"}]}}}
        try:
            resp = pas.call_payer("POST", address, "Subscription", sub, timeout=(2.0, 5.0))
            answer = resp.json() if resp.status_code == 201 else {}
            # "error": the payer's handshake did not reach painpa (Backport IG): poll instead
            sub_id = answer.get("id") if answer.get("status") in ("active", "requested") else None
        except (requests.RequestException, ValueError, AttributeError, LaunchError):
            sub_id = None   # LaunchError: no payer token for it now; the decision is stored and polled
        return _mark(stored, address, "subscribed" if sub_id else "polling", sub_id)
    return watch


def _inquiry(fhir: AppFhir, stored: dict) -> dict:
    """The inquiry Bundle: the Claim on file (its painpa trace number), with its patient, coverage and
    payer read from the EHR (``PASInquiryRequestBundle``)."""
    claim = fhir.read(stored["request"]["reference"])
    entries = [{"fullUrl": f"{fhir.base}/Claim/{claim['id']}", "resource": claim}]
    refs = [claim.get("patient"), claim.get("insurer")] + [i.get("coverage") for i in claim.get("insurance") or []]
    for ref in refs:
        if ref and ref.get("reference"):
            res = fhir.read(ref["reference"])
            entries.append({"fullUrl": f"{fhir.base}/{res['resourceType']}/{res['id']}", "resource": res})
    return {"resourceType": "Bundle", "type": "collection",
            "identifier": {"system": pas.TRACE_SYSTEM, "value": str(uuid.uuid4())},
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "entry": entries}


def _answers(body: object) -> list[dict]:
    """The ClaimResponses of an ``$inquire`` answer: one Bundle (PAS 2.1) or Parameters of them (2.2)."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        bundles = [p.get("resource") for p in body.get("parameter") or [] if isinstance(p, dict)]
    else:
        bundles = [body]
    return [((b.get("entry") or [{}])[0].get("resource") or {}) for b in bundles if isinstance(b, dict)]


def _age_s(resource: dict) -> float:
    try:
        updated = datetime.fromisoformat((resource.get("meta") or {}).get("lastUpdated", ""))
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - updated).total_seconds()


def refresh(db, fhir: AppFhir, stored: dict, *, poll: bool) -> str | None:
    """Ask the payer about a pended decision on file; when it is final, write it over the pended one.
    Returns the new decision's summary, or None while it is still pended (or not followed by painpa).
    ``poll``: asked by the page, which leaves subscribed decisions to their notification for a while."""
    watch = _watch_of(stored)
    if not watch or not pas.is_pended(stored):
        return None
    if poll and watch.get("mode") == "subscribed" and _age_s(stored) < SUBSCRIBED_GRACE_S:
        return None
    address = watch.get("payer", "")
    if not is_registered_base(db, address):
        return None
    trace = {i.get("value") for i in stored.get("identifier") or [] if i.get("system") == pas.TRACE_SYSTEM}
    try:
        resp = pas.call_payer("POST", address, "Claim/$inquire", _inquiry(fhir, stored))
        answers = _answers(resp.json()) if resp.status_code == 200 else []
    except (requests.RequestException, ValueError, LaunchError):
        return None   # asked again by the next poll or notification
    final = next((a for a in answers if trace & {i.get("value") for i in a.get("identifier") or []}),
                 answers[0] if len(answers) == 1 else None)
    if not final or final.get("resourceType") != "ClaimResponse" or pas.is_pended(final):
        return None
    update = {**final, "id": stored["id"], "patient": stored["patient"], "request": stored["request"],
              "use": "preauthorization", "identifier": stored.get("identifier") or []}
    update.pop("meta", None)
    fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"{fhir.base}/ClaimResponse/{stored['id']}", "resource": update,
         "request": {"method": "PUT", "url": f"ClaimResponse/{stored['id']}"}}]})
    if watch.get("subscription"):
        with contextlib.suppress(requests.RequestException, LaunchError):  # the payer ends it anyway when it errors
            pas.call_payer("DELETE", address, f"Subscription/{watch['subscription']}", timeout=(2.0, 5.0))
    return pas.summary(final)


def _kind(notification: object) -> str | None:
    """The notification's type from its subscription-status Parameters (Backport IG)."""
    entries = notification.get("entry") if isinstance(notification, dict) else None
    status = (entries[0].get("resource") if entries and isinstance(entries[0], dict) else None) or {}
    return next((p.get("valueCode") for p in status.get("parameter") or [] if p.get("name") == "type"), None)


def notified(token: str, notification: object) -> tuple[int, str]:
    """A notification on the PAS topic for one followed request: ask the payer and store the final.
    A handshake or heartbeat only says the channel works."""
    try:
        data = _signer().loads(token, max_age=TOKEN_MAX_AGE_S)
    except BadSignature:
        return 404, "unknown notification endpoint"
    if _kind(notification) in ("handshake", "heartbeat"):
        return 200, "channel confirmed"
    app = state.current()
    with app.db.session() as s:
        row = s.get(SmartSession, data.get("k", ""))
        iss = row.iss if row else None
    if not iss:
        return 202, "the app session has ended; the decision will be read when the order is next opened"
    try:
        fhir = AppFhir(iss, oauth.access_token(app.db, app.settings, data["k"]), on_write=chart_writes.record)
        on_file = fhir.search("ClaimResponse", {"identifier": f"{pas.TRACE_SYSTEM}|{data['t']}"})
        mine = [c for c in on_file if data["t"] in {i.get("value") for i in c.get("identifier") or []}]
        done = [refresh(app.db, fhir, c, poll=False) for c in mine]
    except (LaunchError, FhirAccessError):
        log.warning("a PAS notification could not be followed with the app session's token")
        return 202, "the decision will be read when the order is next opened"
    return 200, "updated" if any(done) else "still pended"
