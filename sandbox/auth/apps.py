"""Outside SMART apps and backend-services clients of the sandbox authorization server: register,
list, remove. ``painpa sandbox apps …`` and RFC 7591 dynamic registration (``sandbox.auth.register``)
both go through :func:`add_app`, so an app registered either way is checked by the same rules.

* SMART App Launch 2.2 app-launch.md §"Register App with EHR": fixed, fully specified redirect URIs;
  every app uses the authorization-code grant with PKCE.
* client-confidential-asymmetric.md §"Registering a client": a JWK Set, or a JWKS URL the server
  fetches; public members only.
* client-public (auth method ``none``): no credentials, so no ``system/`` scopes.
* backend-services.md §"Register SMART Backend Service": ``private_key_jwt`` and ``system/`` scopes,
  the client_credentials grant (RFC 6749 §4.4), pre-authorized scopes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select, update

from sandbox.scopes import valid_scope_item
from sandbox.tables import AuthCode, ClientRegistration, OAuthClient, Token

CODE_GRANTS = ("authorization_code", "refresh_token")
BACKEND_GRANT = "client_credentials"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


class AppError(ValueError):
    """A registration that cannot be accepted; the message says what to change."""


@dataclass(frozen=True)
class App:
    client_id: str
    name: str
    auth_method: str
    redirect_uris: tuple[str, ...]
    jwks_uri: str | None
    jwks: dict | None
    scope: str
    grant_types: tuple[str, ...]
    source: str
    launch_uri: str | None = None

    @property
    def kind(self) -> str:
        if BACKEND_GRANT in self.grant_types and not self.redirect_uris:
            return "backend services"
        return {"none": "public app", "client_secret_basic": "confidential app (secret)"}.get(
            self.auth_method, "confidential app (keys)")


def implied_grants(redirect_uris, auth_method: str, scope: str) -> list[str]:
    """The grants a client may use: code (with refresh) when it has redirect URIs, client_credentials
    when it authenticates with keys and was given ``system/`` scopes."""
    grants = list(CODE_GRANTS) if redirect_uris else []
    if auth_method == "private_key_jwt" and any(s.startswith("system/") for s in scope.split()):
        grants.append(BACKEND_GRANT)
    return grants


def _check_uri(uri: str, what: str) -> str:
    parts = urlsplit(uri) if isinstance(uri, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise AppError(f"{what} {uri!r} must be an absolute http(s) URL without a fragment")
    return uri


def _check_jwks(jwks) -> dict:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise AppError("the JWK Set must be a JSON object with a non-empty \"keys\" list")
    if any(isinstance(k, dict) and set(k) & set(_PRIVATE_MEMBERS) for k in jwks["keys"]):
        raise AppError("the JWK Set holds private key material; register the public keys only")
    try:
        KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise AppError(f"the JWK Set cannot be read: {exc}") from None
    return jwks


def add_app(db, *, client_id: str, redirect_uris=(), jwks_uri: str | None = None, jwks: dict | None = None,
            public: bool = False, secret_sha256: str | None = None, scope: str = "", name: str = "",
            launch_uri: str | None = None, source: str = "cli", client_metadata: dict | None = None,
            replace: bool = True) -> App:
    """Register (or, with ``replace``, re-register) one client; raises AppError with the reason."""
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise AppError(f"client id {client_id!r} must be 1-128 of A-Z a-z 0-9 . _ ~ -")
    uris = [_check_uri(u, "redirect URI") for u in dict.fromkeys(redirect_uris or ())]
    credentials = [c for c in (jwks_uri, jwks, secret_sha256) if c] + ([True] if public else [])
    if len(credentials) != 1:
        raise AppError("give one credential: a JWKS URL, a JWK Set, a client secret, or none (--public)")
    if jwks_uri:
        _check_uri(jwks_uri, "JWKS URL")
    if jwks is not None:
        _check_jwks(jwks)
    auth_method = "none" if public else "client_secret_basic" if secret_sha256 else "private_key_jwt"
    items = list(dict.fromkeys((scope or "").split()))
    bad = [s for s in items if not valid_scope_item(s)]
    if bad:
        raise AppError(f"not SMART scopes: {' '.join(bad)} (e.g. patient/Condition.rs, system/Claim.cr)")
    if auth_method != "private_key_jwt" and any(s.startswith("system/") for s in items):
        raise AppError("system/ scopes are for backend services, which authenticate with keys (SMART Backend "
                       "Services): give --jwks-url or --jwks-file")
    grants = implied_grants(uris, auth_method, " ".join(items))
    if not grants:
        raise AppError("nothing to use: an app needs --redirect-uri, a backend-services client keys and "
                       "--scope with system/ scopes")
    if launch_uri:
        _check_uri(launch_uri, "launch URL")
    with db.session() as s:
        row = s.get(OAuthClient, client_id)
        reg = s.get(ClientRegistration, client_id)
        if row is not None and (reg is not None and reg.source == "setup"):
            raise AppError(f"{client_id!r} is painpa's own client at the sandbox; choose another client id")
        if row is not None and not replace:
            raise AppError(f"client id {client_id!r} is taken")
        if row is None:
            row = OAuthClient(client_id=client_id)
            s.add(row)
        row.name, row.redirect_uris, row.auth_method = name or client_id, uris, auth_method
        row.secret_sha256, row.jwks_uri, row.jwks = secret_sha256, jwks_uri, jwks
        row.scope, row.launch_uri = " ".join(items), launch_uri
        if reg is None:
            reg = ClientRegistration(client_id=client_id)
            s.add(reg)
        reg.grant_types, reg.source, reg.registered = grants, source, datetime.now(UTC)
        reg.client_metadata = dict(client_metadata or {})
    return get_app(db, client_id)


def grants_of(row: OAuthClient, reg: ClientRegistration | None) -> tuple[str, ...]:
    """The registered grants; a client registered before grants were recorded has those it implies."""
    if reg is not None:
        return tuple(reg.grant_types or ())
    return tuple(implied_grants(row.redirect_uris or (), row.auth_method, row.scope or ""))


def _app(row: OAuthClient, reg: ClientRegistration | None) -> App:
    return App(row.client_id, row.name or row.client_id, row.auth_method, tuple(row.redirect_uris or ()),
               row.jwks_uri, row.jwks, row.scope or "", grants_of(row, reg),
               reg.source if reg is not None else "earlier release", row.launch_uri)


def get_app(db, client_id: str) -> App | None:
    with db.session() as s:
        row = s.get(OAuthClient, client_id)
        return _app(row, s.get(ClientRegistration, client_id)) if row is not None else None


def list_apps(db) -> list[App]:
    with db.session() as s:
        regs = {r.client_id: r for r in s.scalars(select(ClientRegistration))}
        return [_app(row, regs.get(row.client_id)) for row in s.scalars(select(OAuthClient).order_by(OAuthClient.client_id))]


def remove_app(db, client_id: str) -> bool:
    """Remove a client and end what it holds: its tokens are revoked, its pending codes dropped."""
    with db.session() as s:
        reg = s.get(ClientRegistration, client_id)
        if reg is not None and reg.source == "setup":
            raise AppError(f"{client_id!r} is painpa's own client at the sandbox and is registered again at "
                           "every start")
        row = s.get(OAuthClient, client_id)
        if row is None:
            return False
        s.delete(row)
        if reg is not None:
            s.delete(reg)
        s.execute(update(Token).where(Token.client_id == client_id).values(revoked=True))
        s.execute(delete(AuthCode).where(AuthCode.client_id == client_id))
    return True
