"""What the order screen does, end to end: fire order-select / order-sign at painpa, keep the
answer for the card actions, send feedback (CDS Hooks 2.0 §Feedback), apply accepted suggestions
(§"Suggestion": actions processed like a transaction), launch SMART links (§"Link"; SMART App
Launch 2.2 EHR launch with the card's appContext), sign the order and schedule it (appointment-book
before the slot is booked).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from cds_service import state
from cds_service.clock import today_utc
from sandbox import state as sandbox_state
from sandbox.auth import launch
from sandbox.ehr import cards as card_view
from sandbox.ehr import hookreq
from sandbox.ehr.orders import appointment, draft_service_request
from sandbox.fhir import store
from sandbox.fhir.outcome import FhirError
from sandbox.fhir.validate import validate
from sandbox.roster import SANDBOX_USER
from sandbox.tokens import revoke


def remember(hook_instance: str, service_id: str, cards: list[dict], *, patient: str | None = None,
             encounter: str | None = None, draft: dict | None = None, coverage: list[dict] | None = None) -> None:
    """Keep a hook's answer so that its cards can be acted on later (feedback, suggestions, SMART
    launch from a link, a DTR launch on a form its coverage-information names). A patient-view answer
    has no draft order, and its launch carries no order."""
    sandbox_state.current().answers[hook_instance] = {
        "service": service_id, "cards": cards, "patient": patient, "encounter": encounter, "draft": draft,
        "coverage": coverage or []}


def _active_coverage(pid: str) -> str | None:
    with state.current().db.session() as s:
        active = [c for c in store.candidates(s, "Coverage", pid) if c.get("status") == "active"]
    return active[0]["id"] if active else None


def fire(hook: str, pid: str, encounter: str | None, form: dict, *, prefetch: bool) -> dict:
    db, fhir_base = state.current().db, f"{state.current().settings.base_url}/fhir"
    cds = sandbox_state.current().cds
    draft = draft_service_request(form, patient=pid, encounter=encounter, coverage=_active_coverage(pid),
                                  user=SANDBOX_USER, today=today_utc())
    service = cds.service_for(hook)
    context = {"userId": SANDBOX_USER, "patientId": pid}
    if encounter:
        context["encounterId"] = encounter
    auth = hookreq.fhir_authorization(db, pid, SANDBOX_USER)
    body = hookreq.build(hook, fhir_base=fhir_base, context=context, draft=draft, auth=auth)
    answer = _send(service, body, prefetch=prefetch)
    cards = card_view.prepare(answer.get("cards") or [])
    coverage = hookreq.coverage_info(answer.get("systemActions") or [])
    remember(body["hookInstance"], service["id"], cards, patient=pid, encounter=encounter, draft=draft, coverage=coverage)
    return {"hookInstance": body["hookInstance"], "service": service["id"], "cards": cards, "coverage": coverage,
            "critical": card_view.has_critical(cards), "draft": draft, "prefetchKeys": sorted(body.get("prefetch", {})),
            "request": _redacted(body)}


def _send(service: dict, body: dict, *, prefetch: bool) -> dict:
    """Call ``service`` with ``body`` (its prefetch filled first when asked); the body's
    fhirAuthorization token is revoked once the call completes (CDS Hooks 2.0)."""
    db, fhir_base = state.current().db, body["fhirServer"]
    if prefetch:
        body["prefetch"] = hookreq.fill_prefetch(db, service.get("prefetch") or {}, body["context"], fhir_base)
    try:
        return sandbox_state.current().cds.call(service["id"], body)
    finally:
        revoke(db, body["fhirAuthorization"]["access_token"])


def _redacted(body: dict) -> dict:
    """The hook request as sent, for display and for reuse as a test body; the token is revoked already
    and is still never shown."""
    shown = dict(body)
    if "fhirAuthorization" in shown:
        shown["fhirAuthorization"] = {**shown["fhirAuthorization"], "access_token": "[redacted]"}
    return shown


def _card(hook_instance: str, card_uuid: str) -> tuple[dict, dict]:
    answer = sandbox_state.current().answers.get(hook_instance)
    card = next((c for c in (answer or {}).get("cards", []) if c.get("uuid") == card_uuid), None)
    if answer is None or card is None:
        raise FhirError(404, "That card is no longer available; fire the hook again", "not-found")
    return answer, card


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def override(hook_instance: str, card_uuid: str, reason_code: str | None, comment: str | None) -> dict:
    answer, card = _card(hook_instance, card_uuid)
    item: dict = {"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": _now()}
    reason = next((r for r in card.get("overrideReasons") or [] if r.get("code") == reason_code), None)
    if reason or comment:
        item["overrideReason"] = {k: v for k, v in (("reason", reason), ("userComment", comment)) if v}
    return sandbox_state.current().cds.feedback(answer["service"], [item]) or {"ok": True}


def accept(hook_instance: str, card_uuid: str, suggestion_uuid: str) -> dict:
    """Apply the suggestion's actions (deletes, creates, updates; the draft order is updated in
    place, anything else is written to the FHIR server), then report ``accepted``."""
    answer, card = _card(hook_instance, card_uuid)
    suggestion = next((s for s in card.get("suggestions") or [] if s.get("uuid") == suggestion_uuid), None)
    if suggestion is None:
        raise FhirError(404, "That suggestion is not on the card", "not-found")
    draft = answer["draft"]
    order = {"delete": 0, "create": 1, "update": 2}
    with state.current().db.session() as s:
        for action in sorted(suggestion.get("actions") or [], key=lambda a: order.get(a.get("type"), 3)):
            resource = action.get("resource") or {}
            if resource.get("resourceType") == "ServiceRequest" and resource.get("id") == draft.get("id"):
                answer["draft"] = draft = validate(resource, "ServiceRequest")
            elif action.get("type") == "delete" and action.get("resourceId"):
                rtype, _, rid = action["resourceId"].partition("/")
                store.delete(s, rtype, rid)
            elif action.get("type") in ("create", "update"):
                resource = validate(resource)
                store.put(s, {**resource, "id": resource.get("id") or store.new_id()})
    item = {"card": card_uuid, "outcome": "accepted", "outcomeTimestamp": _now(),
            "acceptedSuggestions": [{"id": suggestion_uuid}]}
    sandbox_state.current().cds.feedback(answer["service"], [item])
    return {"ok": True, "draft": answer["draft"]}


def _dtr_context(answer: dict | None, questionnaire: str) -> list[dict]:
    """A DTR launch on one form (DTR 2.2 spec-113): the Coverage of the coverage-information naming
    ``questionnaire`` and the form's canonical (SMART 2.2 fhirContext ``canonical``); only a form the
    answer named."""
    row = next((r for r in (answer or {}).get("coverage") or ()
                if questionnaire in str(r.get("questionnaire", "")).split(", ")), None)
    if row is None:
        raise FhirError(404, "That form is not in painpa's coverage information for this order", "not-found")
    coverage = [{"reference": row["coverage"]}] if str(row.get("coverage", "")).startswith("Coverage/") else []
    return [*coverage, {"canonical": questionnaire, "type": "Questionnaire"}]


def launch_url(hook_instance: str | None, card_uuid: str | None, link_index: int | None, pid: str,
               encounter: str | None, questionnaire: str | None = None) -> str:
    """EHR launch: ``{app launch url}?iss={FHIR base}&launch={id}``; the launch id carries patient,
    encounter, the pending order in fhirContext and, for a card link, the card's appContext verbatim;
    for a DTR launch (``questionnaire``, a canonical the coverage-information named), also the
    Coverage and that canonical. The pending order is saved (status draft) first, as EHRs keep pended
    orders, so the app can read it."""
    db, base = state.current().db, state.current().settings.base_url
    context: dict = {"patient": pid, "encounter": encounter, "need_patient_banner": False,
                     "smart_style_url": f"{base}/ehr/static/smart-style.json"}
    url = f"{base}/smart/launch"
    answer = sandbox_state.current().answers.get(hook_instance) if hook_instance else None
    if card_uuid:
        answer, card = _card(hook_instance or "", card_uuid)
        links = [lk for lk in card.get("links") or [] if lk.get("type") == "smart"]
        if link_index is None or not 0 <= link_index < len(links):
            raise FhirError(404, "That SMART link is not on the card", "not-found")
        url = links[link_index]["url"]
        if links[link_index].get("appContext"):
            context["appContext"] = links[link_index]["appContext"]
    if answer is not None and answer["patient"] == pid and answer["draft"]:
        with db.session() as s:
            store.put(s, answer["draft"])
        context["fhirContext"] = [{"reference": f"ServiceRequest/{answer['draft']['id']}"}]
    if questionnaire:
        context["fhirContext"] = [*context.get("fhirContext", []), *_dtr_context(answer, questionnaire)]
    launch_id = launch.create(db, context)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}{urlencode({'iss': f'{base}/fhir', 'launch': launch_id})}"


def sign(pid: str, encounter: str | None, form: dict, *, prefetch: bool) -> dict:
    """order-sign; with no critical card the order is signed: stored as an active ServiceRequest."""
    result = fire("order-sign", pid, encounter, form, prefetch=prefetch)
    if result["critical"]:
        result["signed"] = False
        return result
    signed = {**result["draft"], "status": "active"}
    with state.current().db.session() as s:
        stored, _ = store.put(s, validate(signed, "ServiceRequest"))
    result.update(signed=True, order=f"ServiceRequest/{stored['id']}")
    return result


def schedule(pid: str, encounter: str | None, draft_id: str, start: str, *, prefetch: bool) -> dict:
    """appointment-book for an Appointment based on the signed order; with no critical card the
    slot is booked (the Appointment stored, status booked)."""
    db, fhir_base = state.current().db, f"{state.current().settings.base_url}/fhir"
    with db.session() as s:
        try:
            order = store.read(s, "ServiceRequest", str(draft_id))
        except FhirError:
            raise FhirError(409, "Sign the order before scheduling it", "conflict") from None
    appt = appointment(order, start, patient=pid, user=SANDBOX_USER, appointment_id=store.new_id())
    service = sandbox_state.current().cds.service_for("appointment-book")
    context = {"userId": SANDBOX_USER, "patientId": pid,
               "appointments": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": appt}]}}
    if encounter:
        context["encounterId"] = encounter
    body = {"hook": "appointment-book", "hookInstance": str(uuid.uuid4()), "fhirServer": fhir_base,
            "context": context, "fhirAuthorization": hookreq.fhir_authorization(db, pid, SANDBOX_USER)}
    answer = _send(service, body, prefetch=prefetch)
    cards = card_view.prepare(answer.get("cards") or [])
    remember(body["hookInstance"], service["id"], cards, patient=pid, encounter=encounter, draft=order)
    critical = card_view.has_critical(cards)
    if not critical:
        with db.session() as s:
            store.put(s, validate({**appt, "status": "booked"}, "Appointment"))
    return {"hookInstance": body["hookInstance"], "service": service["id"], "cards": cards,
            "coverage": hookreq.coverage_info(answer.get("systemActions") or []), "critical": critical,
            "booked": not critical, "appointment": f"Appointment/{appt['id']}", "request": _redacted(body)}
