"""The app session behind a page: the browser's opaque cookie plus the session id in the URL
(SMART App Launch 2.2 "App protection": tokens kept server-side, never in the browser;
standards.md §5.5, §8.14).

A page is served only when the browser cookie matches the one that started the launch, so a
leaked URL alone opens nothing. Form posts carry a CSRF token derived from the session id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app, request

from cds_service import applinks, state
from smart_app import oauth
from smart_app.context import LaunchContext
from smart_app.discovery import LaunchError
from smart_app.fhir import AppFhir
from smart_app.tables import SmartSession, digest

BROWSER_COOKIE = "painpa_smart"


def browser_id() -> str | None:
    value = request.cookies.get(BROWSER_COOKIE)
    return value if value and 20 <= len(value) <= 100 else None


def new_browser_id() -> str:
    return secrets.token_urlsafe(32)


def cookie_kwargs() -> dict:
    """HttpOnly always. Inside an EHR iframe over https the cookie is third-party: SameSite=None;
    Secure. Over plain http (sandbox, loopback) browsers drop SameSite=None without Secure, so Lax."""
    secure = state.current().settings.base_url.startswith("https://")
    return {"httponly": True, "secure": secure, "samesite": "None" if secure else "Lax", "path": "/"}


@dataclass
class AppSession:
    sid: str
    key: str
    iss: str
    context: LaunchContext
    card: dict | None
    scope: str

    def fhir(self) -> AppFhir:
        app = state.current()
        token = oauth.access_token(app.db, app.settings, self.key)
        return AppFhir(self.iss, token)

    def csrf(self) -> str:
        secret = current_app.config["SECRET_KEY"].encode()
        return hmac.new(secret, self.key.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, value: str | None) -> None:
        if not value or not hmac.compare_digest(value, self.csrf()):
            raise LaunchError("The form expired or came from elsewhere; reload the page and try again.", 400)


def load(sid: str) -> AppSession:
    db = state.current().db
    key = digest(sid)
    with db.session() as s:
        row = s.get(SmartSession, key)
        if row is None:
            raise LaunchError("This app session is unknown or has ended; relaunch the app from the EHR.", 401)
        bid = browser_id()
        if not bid or not hmac.compare_digest(row.browser_digest, digest(bid)):
            raise LaunchError("This app session belongs to another browser; relaunch the app from the EHR.", 401)
        return AppSession(sid=sid, key=key, iss=row.iss, context=LaunchContext.from_dict(row.context or {}),
                          card=row.card, scope=row.scope)


def save_card(session: AppSession, card: dict | None) -> None:
    with state.current().db.session() as s:
        row = s.get(SmartSession, session.key)
        row.card = card or {}
        ctx = dict(row.context or {})
        ctx["handle"] = None  # redeemed (or refused): never redeem twice
        row.context = ctx
    session.card = card or {}


def redeem_card(session: AppSession) -> None:
    """Redeem the card's appContext handle once (CDS Hooks 2.0 §Link; standards.md §8.11). The
    payload is trusted only for this patient and this EHR; otherwise every pending order is shown."""
    if not session.context.handle:
        return
    card = applinks.redeem(state.current().db, session.context.handle)
    if card and str(card.get("patient", "")).split("/")[-1] != session.context.patient:
        card = {"refused": "The card was for another patient; showing this patient's orders."}
    elif card and card.get("fhirServer") and str(card["fhirServer"]).rstrip("/") != session.iss:
        card = {"refused": "The card came from another EHR; showing this patient's orders."}
    save_card(session, card or {"refused": "The card link was already used or has expired; "
                                           "showing every pending order of the patient."})
