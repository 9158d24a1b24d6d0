"""Topic-based Subscriptions to the PAS topic (Subscriptions R4 Backport IG 1.1: §"Subscription",
§"Notifications"; Da Vinci PAS 2.2.1 ``PASSubscription`` and ``PASSubscriptionTopic``).

A client creates an R4 Subscription whose ``criteria`` is the PAS topic canonical, ``channel.type``
rest-hook, an endpoint, the payload content in ``backport-payload-content`` (empty, id-only or
full-resource) and optionally the topic's one filter, ``orgIdentifier=<requesting provider's
identifier>`` in ``backport-filter-criteria``. When a pended decision becomes final the payer POSTs
a ``history`` Bundle to each matching active subscription: first the subscription-status
Parameters (``event-notification``, events-since-subscription-start, the notification-event with
its focus: the PAS response Bundle), then, for id-only and full-resource, the focus entry.

On creation the payer sends a ``handshake`` notification (Backport IG §"Handshake"): answered with
2xx the Subscription is ``active``, otherwise ``error`` and nothing more is sent to it, so a client
learns at once that its endpoint cannot be reached and can ``$inquire`` instead.

Only hosts the operator runs may be called: loopback addresses and the sandbox's own host
(PAINPA_BASE_URL). Notifications carry the client's own ``channel.header`` values; nothing of
them is logged.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from sqlalchemy.orm import Session

from cds_service.fhir.client import new_session
from sandbox.fhir.outcome import FhirError, issue
from sandbox.payer.tables import PayerSubscription

TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
FILTER = f"{BACKPORT}/backport-filter-criteria"
CONTENT = f"{BACKPORT}/backport-payload-content"
STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_CONTENTS = {"empty", "id-only", "full-resource"}
log = logging.getLogger(__name__)
_http = new_session(pool_size=2)


def _bad(message: str, path: str) -> FhirError:
    return FhirError(400, message, issues=[issue("invalid", message, expression=path)])


def allowed_endpoint(url: str, own_base: str) -> bool:
    parts = urlsplit(url)
    own = urlsplit(own_base).hostname
    return parts.scheme in ("http", "https") and bool(parts.hostname) and (
        parts.hostname in _LOOPBACK or parts.hostname == own)


def create(s: Session, body: object, own_base: str) -> PayerSubscription:
    if not isinstance(body, dict) or body.get("resourceType") != "Subscription":
        raise _bad("The body must be an R4 Subscription (Subscriptions Backport IG)", "Subscription")
    if body.get("criteria") != TOPIC:
        raise _bad(f"Subscription.criteria must be the PAS subscription topic {TOPIC}", "Subscription.criteria")
    channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
    if channel.get("type") != "rest-hook":
        raise _bad("Subscription.channel.type must be 'rest-hook'", "Subscription.channel.type")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not allowed_endpoint(endpoint, own_base):
        raise _bad("Subscription.channel.endpoint must be an http(s) URL on this machine (loopback) or on the "
                   "sandbox's own host: the sandbox calls no host its operator does not run",
                   "Subscription.channel.endpoint")
    payload = channel.get("payload")
    exts = (channel.get("_payload") or {}).get("extension") or []  # R4 JSON: extensions of a primitive
    content = next((e.get("valueCode") for e in exts if e.get("url") == CONTENT), None) or "full-resource"
    if content not in _CONTENTS:
        raise _bad(f"backport-payload-content must be one of {sorted(_CONTENTS)}", "Subscription.channel.payload")
    if payload not in (None, "application/fhir+json", "application/json"):
        raise _bad("Subscription.channel.payload must be application/fhir+json", "Subscription.channel.payload")
    org = None
    for ext in (body.get("_criteria") or {}).get("extension") or []:
        if ext.get("url") == FILTER:
            name, _, value = str(ext.get("valueString", "")).split("?")[-1].partition("=")
            if name != "orgIdentifier" or not value:
                raise _bad("The PAS topic filters only by orgIdentifier=<identifier>", "Subscription.criteria")
            org = value
    sub_id = str(uuid.uuid4())
    stored = {**body, "id": sub_id, "status": "requested"}
    row = PayerSubscription(id=sub_id, body=stored, endpoint=endpoint, content=content, org_identifier=org,
                            status="requested", events=0)
    s.add(row)
    return row


def status_parameters(row: PayerSubscription, base: str, *, kind: str, focus: str | None = None,
                      event: int | None = None) -> dict:
    params = [{"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{row.id}"}},
              {"name": "topic", "valueCanonical": TOPIC},
              {"name": "status", "valueCode": row.status},
              {"name": "type", "valueCode": kind},
              {"name": "events-since-subscription-start", "valueString": str(row.events)}]
    if event is not None:
        parts = [{"name": "event-number", "valueString": str(event)},
                 {"name": "timestamp", "valueInstant": datetime.now(UTC).isoformat(timespec="seconds")}]
        if focus:
            parts.append({"name": "focus", "valueReference": {"reference": focus}})
        params.append({"name": "notification-event", "part": parts})
    return {"resourceType": "Parameters", "id": str(uuid.uuid4()), "meta": {"profile": [STATUS_PROFILE]},
            "parameter": params}


def handshake(row: PayerSubscription, base: str, own_base: str) -> None:
    status = status_parameters(row, base, kind="handshake")
    body = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "history",
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "entry": [{"fullUrl": f"urn:uuid:{status['id']}", "resource": status,
                       "request": {"method": "GET", "url": f"{base}/Subscription/{row.id}/$status"},
                       "response": {"status": "200"}}]}
    row.status = "active" if send(row, body, own_base) else "error"
    row.body = {**row.body, "status": row.status}


def notification(row: PayerSubscription, base: str, response_bundle: dict) -> dict:
    focus = f"{base}/Bundle/{response_bundle['id']}"
    status = status_parameters(row, base, kind="event-notification", focus=focus if row.content != "empty" else None,
                               event=row.events)
    entries = [{"fullUrl": f"urn:uuid:{status['id']}", "resource": status,
                "request": {"method": "GET", "url": f"{base}/Subscription/{row.id}/$status"},
                "response": {"status": "200"}}]
    if row.content != "empty":
        entry = {"fullUrl": focus, "request": {"method": "GET", "url": focus}, "response": {"status": "200"}}
        if row.content == "full-resource":
            entry["resource"] = response_bundle
        entries.append(entry)
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "history",
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "entry": entries}


def matching(s: Session, org_identifiers: set[str]) -> list[PayerSubscription]:
    rows = s.query(PayerSubscription).filter(PayerSubscription.status == "active").all()
    return [r for r in rows if r.org_identifier is None or r.org_identifier in org_identifiers]


def send(row: PayerSubscription, body: dict, own_base: str) -> bool:
    """POST one notification; False (and the subscription in error) when the endpoint fails."""
    if not allowed_endpoint(row.endpoint, own_base):
        return False
    headers = {"Content-Type": "application/fhir+json"}
    for header in (row.body.get("channel") or {}).get("header") or []:
        name, _, value = str(header).partition(":")
        if name.strip() and value.strip():
            headers[name.strip()] = value.strip()
    try:
        resp = _http.post(row.endpoint, json=body, headers=headers, timeout=(2.0, 5.0), allow_redirects=False)
        ok = 200 <= resp.status_code < 300
    except requests.RequestException:
        ok = False
    if not ok:
        log.warning("a PAS-topic notification for subscription %s was not accepted by its endpoint", row.id)
    return ok
