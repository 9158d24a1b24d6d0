"""The app session behind a page: the browser's opaque cookie plus the session id in the URL
(SMART App Launch 2.2 "App protection": tokens kept server-side, never in the browser;
standards.md §5.5, §8.14; OWASP Session Management cheat sheet "Renew the session ID after any
privilege level change").

A page is served only when the browser presents the cookie issued with its session, so a leaked URL
alone opens nothing. No cookie the browser already holds is ever adopted (a planted value would
let its planter in): the launch issues a fresh one, bound to that launch's ``state`` and sent only to
the callback; the callback issues another, bound to the new session and sent only to that session's
pages (its path is ``/smart/app/<sid>``, so sessions in several tabs keep their own cookies). Form
posts carry a CSRF token derived from the session id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from contextlib import suppress
from dataclasses import asdict, dataclass

from flask import current_app, request

from cds_service import applinks, state
from smart_app import chart_writes, describe, oauth
from smart_app.context import LaunchContext
from smart_app.discovery import LaunchError
from smart_app.fhir import AppFhir, FhirAccessError
from smart_app.tables import SmartSession, digest

BROWSER_COOKIE = "painpa_smart"
LAUNCH_COOKIE = "painpa_launch_"   # + a digest of the launch's state: launches in two tabs do not collide


def new_browser_id() -> str:
    return secrets.token_urlsafe(32)


def launch_cookie(state_value: str) -> str:
    return LAUNCH_COOKIE + digest(state_value)[:16]


def launch_browser_id(state_value: str | None) -> str | None:
    """The id the launch of ``state_value`` gave this browser, if the browser sent it back."""
    return request.cookies.get(launch_cookie(state_value)) if state_value else None


def session_path(sid: str) -> str:
    return f"/smart/app/{sid}"


def cookie_kwargs(path: str) -> dict:
    """HttpOnly always. Inside an EHR iframe over https the cookie is third-party: SameSite=None;
    Secure (a Lax or Strict cookie would not reach the framed app). Over plain http (sandbox,
    loopback) browsers drop SameSite=None without Secure, so Lax."""
    secure = state.current().settings.secure_cookies
    return {"httponly": True, "secure": secure, "samesite": "None" if secure else "Lax", "path": path}


@dataclass
class AppSession:
    sid: str
    key: str
    iss: str
    context: LaunchContext
    card: dict | None
    scope: str
    banner: dict | None = None   # the launch patient as the banner shows it (describe.Banner fields)
    queue_sid: str | None = None  # the coordinator queue this patient was opened from

    def fhir(self) -> AppFhir:
        app = state.current()
        token = oauth.access_token(app.db, app.settings, self.key)
        return AppFhir(self.iss, token, on_write=chart_writes.record)

    def csrf(self) -> str:
        secret = current_app.config["SECRET_KEY"].encode()
        return hmac.new(secret, self.key.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, value: str | None) -> None:
        if not value or not hmac.compare_digest(value, self.csrf()):
            raise LaunchError("The form expired or came from elsewhere; reload the page and try again.", 400)


def opens_on_form(sid: str) -> bool:
    """Whether the session just created by the callback was launched on one DTR form (its
    ``fhirContext`` names a Questionnaire or a QuestionnaireResponse): its first page is that form."""
    with state.current().db.session() as s:
        row = s.get(SmartSession, digest(sid))
        return row is not None and LaunchContext.from_dict(row.context or {}).names_a_form()


def load(sid: str) -> AppSession:
    db = state.current().db
    key = digest(sid)
    with db.session() as s:
        row = s.get(SmartSession, key)
        if row is None:
            raise LaunchError("This app session is unknown or has ended; relaunch the app from the EHR.", 401)
        # Every value under this name: a cookie planted at path "/" is sent beside the session's own.
        presented = request.cookies.getlist(BROWSER_COOKIE)
        if not any(hmac.compare_digest(row.browser_digest, digest(v)) for v in presented if len(v) <= 100):
            raise LaunchError("This app session belongs to another browser; relaunch the app from the EHR.", 401)
        session = AppSession(sid=sid, key=key, iss=row.iss, context=LaunchContext.from_dict(row.context or {}),
                             card=row.card, scope=row.scope, banner=(row.context or {}).get("banner"),
                             queue_sid=(row.context or {}).get("queue_sid"))
    if session.banner is None and session.context.patient:
        # First page of the session: the banner before anything else is shown. A failed read is left
        # to the page itself, which reads the chart and says what failed.
        with suppress(FhirAccessError):
            remember_patient(session, session.fhir().read(f"Patient/{session.context.patient}"))
    return session


def remember_patient(session: AppSession, patient: dict | None) -> None:
    """Keep the launch patient's banner with the session, so every page of it (an error page, a page
    that reads no Patient) names the patient; written only when it changes."""
    shown = describe.banner(patient)
    if shown is None or asdict(shown) == session.banner:
        return
    with state.current().db.session() as s:
        row = s.get(SmartSession, session.key)
        row.context = {**(row.context or {}), "banner": asdict(shown)}
    session.banner = asdict(shown)


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


def open_patient(session: AppSession, patient_id: str, order_ref: str, browser_id: str) -> str:
    """A session on one patient of the coordinator's queue, from the queue's session: the same
    user-level token (never shown to the browser), the patient and the order as launch context, so
    every page of it names that patient and refuses another's data like an EHR launch. Returns the
    new session id, bound to ``browser_id``."""
    if session.context.patient:
        raise LaunchError("This app window is on one patient; open the queue from its own launch.", 400)
    sid = new_browser_id()
    with state.current().db.session() as s:
        row = s.get(SmartSession, session.key)
        context = {**LaunchContext(patient=patient_id, fhir_context=(order_ref,) if order_ref else (),
                                   fhir_user=session.context.fhir_user).as_dict(), "queue_sid": session.sid}
        s.add(SmartSession(
            id_digest=digest(sid), browser_digest=digest(browser_id), iss=row.iss, client_id=row.client_id,
            token_endpoint=row.token_endpoint, auth_method=row.auth_method, access_token=row.access_token,
            refresh_token=None,   # one refresher per token: the queue's session keeps it
            expires_at=row.expires_at, scope=row.scope, context=context, created=row.created))
    return sid
