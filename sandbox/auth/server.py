"""The authorization server proper: authlib's ``AuthorizationServer`` with the authorization-code
grant (PKCE S256 required for every client, SMART App Launch 2.2 §"PKCE"), rotating refresh
tokens, client authentication by ``private_key_jwt``, ``client_secret_basic`` or ``none``, the
client_credentials grant of SMART Backend Services (backend-services.md) and RFC 7591 registration.

``system/`` scopes are granted by the client_credentials grant only, and it grants nothing else: a
user's authorization never yields system-wide access, a backend token never a user's.

The launch context chosen at authorization (EHR launch id or the patient picker) rides on the code
and then on the token row; ``save_token`` copies it into the token response (§5.4).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, g
from joserfc import jwt
from sqlalchemy import select

from cds_service import state
from sandbox import state as sandbox_state
from sandbox.auth.apps import grants_of
from sandbox.auth.clientauth import PrivateKeyJwt
from sandbox.auth.models import Code, RefreshCredential, SmartClient
from sandbox.auth.register import Registration
from sandbox.tables import AuthCode, ClientRegistration, OAuthClient, Token
from sandbox.tokens import digest, store_token

AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "none"]
ACCESS_TOKEN_TTL_S = 3600
BACKEND_TOKEN_TTL_S = 300  # backend-services.md: "SHOULD NOT exceed 300"
CODE_TTL_S = 60
_RESPONSE_CONTEXT = ("patient", "encounter", "fhirContext", "appContext", "need_patient_banner",
                     "smart_style_url", "intent")


class SmartPKCE(CodeChallenge):
    """S256 only, and required of confidential clients too (SMART 2.2: "SHALL ... for all apps")."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        return super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier' (PKCE is required)")
        return super().validate_code_verifier(grant, result)


class _UserScopes:
    """For the grants a user authorized: ``system/`` scopes are dropped from what is issued."""

    def generate_token(self, *, scope=None, **kwargs):
        scope = " ".join(s for s in (scope or "").split() if not s.startswith("system/"))
        return super().generate_token(scope=scope, **kwargs)


class BackendGrant(grants.ClientCredentialsGrant):
    """SMART App Launch 2.2 backend-services.md §"Obtain access token": the client authenticates with
    ``private_key_jwt`` only; ``scope`` is required and holds ``system/`` scopes; the server "SHALL
    mediate the request to assure that the scope requested is within the scope pre-authorized to the
    client" (the token's ``scope`` says what was granted); the token lives five minutes and comes
    without a refresh token (§"Issue Access Token")."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]

    def validate_token_request(self):
        super().validate_token_request()
        requested = (self.request.payload.scope or "").split()
        if not requested:
            raise InvalidScopeError("scope is required for client_credentials, e.g. scope=system/Claim.cr")
        others = [s for s in requested if not s.startswith("system/")]
        if others:
            raise InvalidScopeError(f"client_credentials grants system/ scopes only, not {' '.join(others)}")
        if not self.request.client.get_allowed_scope(" ".join(requested)):
            raise InvalidScopeError("none of the requested scopes is pre-authorized for this client")


class CodeGrant(_UserScopes, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, request):
        data = request.payload.data
        with state.current().db.session() as s:
            s.add(AuthCode(
                code_sha256=digest(code), client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri, scope=request.payload.scope or "",
                code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"),
                context=dict(g.get("sbx_launch_context") or {}), user=str(request.user),
                expires=datetime.now(UTC) + timedelta(seconds=CODE_TTL_S),
            ))

    def query_authorization_code(self, code, client):
        with state.current().db.session() as s:
            row = s.get(AuthCode, digest(code))
            found = Code(row) if row is not None and row.client_id == client.get_client_id() else None
        return found if found is not None and not found.expired else None

    def delete_authorization_code(self, authorization_code):
        with state.current().db.session() as s:
            row = s.get(AuthCode, authorization_code.code_sha256)
            if row is not None:
                s.delete(row)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class RefreshGrant(_UserScopes, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        with state.current().db.session() as s:
            row = s.scalars(select(Token).where(Token.refresh_sha256 == digest(refresh_token))).first()
            cred = RefreshCredential(row) if row is not None else None
        if cred is None or cred.is_revoked() or cred.is_expired():
            return None
        return cred

    def authenticate_user(self, refresh_token):
        return refresh_token.user

    def revoke_old_credential(self, refresh_token):
        with state.current().db.session() as s:
            row = s.get(Token, refresh_token.access_sha256)
            if row is not None:
                row.revoked = True


def _query_client(client_id):
    with state.current().db.session() as s:
        row = s.get(OAuthClient, client_id)
        return SmartClient(row, grants_of(row, s.get(ClientRegistration, client_id))) if row is not None else None


def _save_token(token, request):
    """Persist the token and add the SMART launch context to the response body."""
    credential = getattr(request, "authorization_code", None) or getattr(request, "refresh_token", None)
    context = dict(getattr(credential, "context", {}) or {})
    scope = token.get("scope", "").split()
    if token.get("refresh_token") and not {"offline_access", "online_access"} & set(scope):
        token.pop("refresh_token")  # only on request (SMART 2.2 §"Scopes for requesting a refresh token")
    with state.current().db.session() as s:
        store_token(s, token, request.client.get_client_id(), str(request.user or ""), context)
    token.update({k: context[k] for k in _RESPONSE_CONTEXT if k in context})
    if "openid" in scope and request.user:
        token["id_token"] = _id_token(request.client.get_client_id(), str(request.user))


def _id_token(client_id: str, user: str) -> str:
    """OpenID Connect id_token for ``openid fhirUser`` (SMART 2.2 §"Scopes for requesting identity")."""
    key = sandbox_state.current().key
    base = state.current().settings.base_url
    now = int(time.time())
    claims = {"iss": f"{base}/auth", "sub": user, "aud": client_id, "iat": now, "exp": now + 300,
              "jti": str(uuid.uuid4()), "fhirUser": f"{base}/fhir/{user}"}
    return jwt.encode({"alg": "ES384", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["ES384"])


def init_auth_server(app: Flask, base_url: str) -> AuthorizationServer:
    """The authorization server of ``app`` (authlib reads its ``OAUTH2_*`` settings from the app's
    config); the app factory keeps it in the sandbox state."""
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", True)
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"authorization_code": ACCESS_TOKEN_TTL_S,
                                                      "refresh_token": ACCESS_TOKEN_TTL_S,
                                                      "client_credentials": BACKEND_TOKEN_TTL_S})
    server = AuthorizationServer(app, query_client=_query_client, save_token=_save_token)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJwt(f"{base_url}/auth/token"))
    server.register_grant(CodeGrant, [SmartPKCE(required=True)])
    server.register_grant(RefreshGrant)
    server.register_grant(BackendGrant)
    server.register_endpoint(Registration(server))
    return server
