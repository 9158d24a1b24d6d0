"""SMART App Launch 2.2 authorization code flow for a confidential client (``app-launch.md``;
standards.md §5.2, §9.3; CC-57 authorize request, CC-58 state, CC-59 token request, CC-63 refresh).

Every launch: PKCE S256, a 256-bit ``state`` stored server-side (digest), bound to the browser
session and usable once; ``aud`` = ``iss``. Tokens stay in the database; the refresh token is
replaced whenever the server issues a new one.

Token requests go through the SSRF egress guard (the guarded session of smart_app.discovery); which
token endpoints are allowed at all is :func:`admit_token_endpoint`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from sqlalchemy import delete

from cds_service.security import egress
from cds_service.store.base import Database
from smart_app import context as ctx
from smart_app import keys
from smart_app.discovery import LaunchError, discover, http
from smart_app.registry import smart_client_for
from smart_app.tables import SmartPendingLaunch, SmartSession, digest

PENDING_TTL_S = 600
SESSION_TTL_S = 12 * 3600  # a clinic day; the tokens are useless to keep longer
REFRESH_SKEW_S = 60
TIMEOUT = (2.0, 10.0)
_refresh_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _origin(url: str, what: str) -> tuple[str, str, int]:
    try:
        return egress.strict_origin(url)
    except egress.EgressRefused as exc:
        raise LaunchError(f"painpa does not send the token request to the EHR's {what}: {exc}.", 502) from None


def admit_token_endpoint(iss: str, token_endpoint: str, *, resolve: bool) -> None:
    """Refuse (LaunchError 502) a token endpoint painpa must not send the code, PKCE verifier, client
    credentials or refresh token to.

    The endpoint is named by the EHR's ``.well-known/smart-configuration`` (SMART App Launch 2.2
    ``conformance.md``; standards.md §5.1), not by the operator, and SMART lets the authorization
    server live on another host than the FHIR server (real EHRs do), so another host is allowed, on
    these terms:

    * Same origin (scheme, host, port) as the registered ``iss``: treated exactly as the registered
      base, so ``http://127.0.0.1:PORT`` registered by the operator still works.
    * Another origin: ``https`` only (SMART 2.2 "App protection": secrets, codes and tokens go only to
      authenticated servers over TLS; standards.md §5.5), except in the local sandbox; and an IP
      literal or ``localhost`` there is the EHR's choice, not the operator's, so it gets no "explicitly
      registered" pass: loopback, private and link-local addresses are refused unless the network is in
      ``PAINPA_EGRESS_ALLOW_NETWORKS`` (cloud metadata always), the same rule as for a host name
      (standards.md §8.3; docs/security.md "Outbound requests").
    * Every connection then goes through the guarded session, which re-checks the DNS answer and pins
      it, so a host that passed here cannot be rebound to an internal address later; and within
      ``egress.registered_hosts(iss host)``, so only the ``iss``'s own IP literal is "registered" there.
    * First of all, the URL (and ``iss``) must read the same to ``urllib.parse`` and to urllib3, which
      makes the connection (``egress.strict_origin``): ``https://127.0.0.1:1\\@ehr.example/token``
      would be judged as ``ehr.example`` here and sent to 127.0.0.1. Userinfo, backslashes, whitespace
      and control characters are refused outright.

    ``resolve``: also check the host name's DNS answers now (at discovery, so a bad document stops the
    launch before the user is sent to authorize); the token request itself leaves that to the guard.
    """
    scheme, host, port = _origin(token_endpoint, "token endpoint")
    if (scheme, host, port) == _origin(iss, "server (iss)"):
        return
    if scheme != "https" and not egress.policy.permissive:
        raise LaunchError("The EHR's token endpoint is on another host and does not use https; "
                          "painpa refuses to send credentials to it.", 502)
    try:
        # An IP literal or localhost is checked always (no DNS needed), a name only when asked; no
        # host is "registered" here: the EHR's document named it, not the operator.
        if resolve or egress.literal(host) is not None or host in egress.LOOPBACK_NAMES:
            with egress.registered_hosts():
                egress.checked_addresses(host, port)
    except egress.Unresolvable:
        raise LaunchError("The EHR's token endpoint could not be reached; try again shortly.", 502) from None
    except egress.EgressRefused as exc:
        raise LaunchError(f"painpa does not send the token request to the EHR's token endpoint: {exc} "
                          "(see PAINPA_EGRESS_ALLOW_NETWORKS); ask the administrator.", 502) from None


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = "&".join(p for p in (parts.query, urlencode(params)) if p)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _auth_method(client, server_methods: tuple[str, ...]) -> str:
    if client.client_secret:
        if server_methods and "client_secret_basic" not in server_methods and "client_secret_post" in server_methods:
            return "client_secret_post"
        return "client_secret_basic"
    if server_methods and "private_key_jwt" not in server_methods:
        raise LaunchError(
            "The EHR does not accept private_key_jwt and no client secret is registered for it; "
            "register one with `painpa clients add … --smart-client-id ID`.", 502)
    return "private_key_jwt"


def start(db: Database, settings, *, iss: str, launch: str | None, browser_id: str,
          practitioner: bool = False) -> tuple[str, str]:
    """Check the issuer, discover its endpoints and return the authorize URL and the launch's
    ``state`` (CC-57); the launch is bound to ``browser_id``."""
    client = smart_client_for(db, iss, settings)
    if client is None:
        # Refused before any outbound request: the iss is caller-supplied (SSRF, standards.md §8.3).
        raise LaunchError("This EHR (iss) is not registered with painpa; ask the administrator to add it.", 400)
    config = discover(client.iss)
    admit_token_endpoint(client.iss, config.token_endpoint, resolve=True)
    method = _auth_method(client, config.auth_methods)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    redirect_uri = settings.base_url + "/smart/callback"
    scope = ctx.scopes(config.scope_version, ehr_launch=launch is not None, practitioner=practitioner and not launch)
    with db.session() as s:
        s.execute(delete(SmartPendingLaunch).where(SmartPendingLaunch.created < time.time() - PENDING_TTL_S))
        s.add(SmartPendingLaunch(
            state_digest=digest(state), browser_digest=digest(browser_id), iss=client.iss,
            client_id=client.client_id, launch=launch, code_verifier=verifier, redirect_uri=redirect_uri,
            token_endpoint=config.token_endpoint, auth_method=method, scope=scope, created=time.time(),
        ))
    params = {
        "response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri,
        "scope": scope, "state": state, "aud": client.iss,
        "code_challenge": _challenge(verifier), "code_challenge_method": "S256",
    }
    if launch is not None:
        params["launch"] = launch
    return _with_query(config.authorization_endpoint, params), state


def _client_auth(db: Database, settings, pending_or_session, data: dict) -> tuple[dict, tuple[str, str] | None]:
    method = pending_or_session.auth_method
    if method == "private_key_jwt":
        data = {**data,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": keys.client_assertion(db, settings, pending_or_session.client_id,
                                                          pending_or_session.token_endpoint)}
        return data, None
    client = smart_client_for(db, pending_or_session.iss, settings)
    secret = client.client_secret if client else None
    if not secret:
        raise LaunchError("The client secret for this EHR is no longer registered.", 502)
    if method == "client_secret_post":
        return {**data, "client_id": pending_or_session.client_id, "client_secret": secret}, None
    return data, (pending_or_session.client_id, secret)


def _token_request(db: Database, settings, row, data: dict) -> dict:
    admit_token_endpoint(row.iss, row.token_endpoint, resolve=False)
    data, basic = _client_auth(db, settings, row, data)
    try:
        with egress.registered_hosts(egress.strict_origin(row.iss)[1]):
            resp = http.post(row.token_endpoint, data=data, auth=basic, timeout=TIMEOUT,
                             headers={"Accept": "application/json"}, allow_redirects=False)
    except requests.RequestException as exc:
        if why := egress.refused_reason(exc):
            raise LaunchError(f"painpa does not connect to the EHR's token endpoint: {why} "
                              "(see PAINPA_EGRESS_ALLOW_NETWORKS); ask the administrator.", 502) from None
        raise LaunchError("The EHR's token endpoint could not be reached; relaunch from the EHR.", 502) from None
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        code = body.get("error") if isinstance(body, dict) else None
        raise LaunchError(f"The EHR refused the token request ({code or 'HTTP ' + str(resp.status_code)}); "
                          "relaunch the app from the EHR.", 502)
    if str(body.get("token_type", "")).lower() != "bearer":
        raise LaunchError("The EHR issued a token that is not a Bearer token.", 502)
    return body


def _expires_at(body: dict) -> float:
    try:
        lifetime = float(body.get("expires_in", 300))
    except (TypeError, ValueError):
        lifetime = 300.0
    return time.time() + max(lifetime, 0.0)


def complete(db: Database, settings, *, browser_id: str | None, session_browser_id: str, state: str | None,
             code: str | None, error: str | None = None) -> str:
    """Validate ``state`` (CC-58) and the browser the launch was bound to, exchange the code
    (CC-59) and return the new app session id, bound to ``session_browser_id``."""
    if not state:
        raise LaunchError("The authorization answer has no state; relaunch the app from the EHR.", 400)
    with db.session() as s:
        row = s.get(SmartPendingLaunch, digest(state))
        if row is None or row.created < time.time() - PENDING_TTL_S:
            raise LaunchError("Unknown or expired launch state; relaunch the app from the EHR.", 400)
        if row.used:
            raise LaunchError("This launch was already completed (state reused); relaunch the app.", 400)
        if not browser_id or row.browser_digest != digest(browser_id):
            raise LaunchError("This launch belongs to another browser session; relaunch the app.", 400)
        row.used = True  # single use, whatever happens next
    if error:
        raise LaunchError(f"The EHR did not authorize the app ({error[:80]}).", 403)
    if not code:
        raise LaunchError("The authorization answer has no code; relaunch the app from the EHR.", 400)
    body = _token_request(db, settings, row, {
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": row.redirect_uri, "code_verifier": row.code_verifier,
    })
    launch_ctx = ctx.parse(body)
    if not launch_ctx.patient and not ctx.is_practitioner_scope(row.scope):   # the queue needs none
        raise LaunchError("The EHR did not provide a patient in context; open the app from a patient chart.", 400)
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC).replace(tzinfo=None)
    with db.session() as s:
        s.execute(delete(SmartSession).where(SmartSession.created < now - timedelta(seconds=SESSION_TTL_S)))
        s.add(SmartSession(
            id_digest=digest(session_id), browser_digest=digest(session_browser_id), iss=row.iss,
            client_id=row.client_id, token_endpoint=row.token_endpoint, auth_method=row.auth_method,
            access_token=keys.seal(db, settings, body["access_token"]),
            refresh_token=keys.seal(db, settings, body.get("refresh_token")),
            expires_at=_expires_at(body), scope=str(body.get("scope", "")), context=launch_ctx.as_dict(),
            created=now,
        ))
    return session_id


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _refresh_locks.setdefault(key, threading.Lock())


def access_token(db: Database, settings, session_key: str) -> str:
    """The session's access token, refreshed first when it expires within a minute (CC-63)."""
    with _lock_for(session_key):
        with db.session() as s:
            row = s.get(SmartSession, session_key)
            if row is None:
                raise LaunchError("The app session ended; relaunch the app from the EHR.", 401)
            if row.expires_at - time.time() > REFRESH_SKEW_S:
                return keys.unseal(db, settings, row.access_token)
            if not row.refresh_token:
                if row.expires_at > time.time():
                    return keys.unseal(db, settings, row.access_token)
                raise LaunchError("The EHR access token expired; relaunch the app from the EHR.", 401)
            snapshot = SmartSession(iss=row.iss, client_id=row.client_id, token_endpoint=row.token_endpoint,
                                    auth_method=row.auth_method)
            refresh_token = keys.unseal(db, settings, row.refresh_token)
        try:
            body = _token_request(db, settings, snapshot, {"grant_type": "refresh_token", "refresh_token": refresh_token})
        except LaunchError:
            with db.session() as s:
                row = s.get(SmartSession, session_key)
                if row is not None and row.expires_at > time.time():
                    return keys.unseal(db, settings, row.access_token)
            raise LaunchError("The EHR session could not be renewed; relaunch the app from the EHR.", 401) from None
        with db.session() as s:
            row = s.get(SmartSession, session_key)
            row.access_token = keys.seal(db, settings, body["access_token"])
            if body.get("refresh_token"):  # SMART 2.2: a new refresh token replaces the old one
                row.refresh_token = keys.seal(db, settings, body["refresh_token"])
            row.expires_at = _expires_at(body)
            row.scope = str(body.get("scope") or row.scope)
            row.refreshes = (row.refreshes or 0) + 1
            return body["access_token"]
