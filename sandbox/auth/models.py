"""authlib model adapters over the sandbox tables (RFC 6749 client / code / token mixins), with the
SMART App Launch 2.2 rules the base classes leave open: exact redirect URI match, registered
scopes only, one registered token-endpoint authentication method per client, the registered grants
only (``sandbox.auth.apps``)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

from sandbox.scopes import valid_scope_item
from sandbox.tables import AuthCode, OAuthClient, Token
from sandbox.tokens import digest


class SmartClient(ClientMixin):
    def __init__(self, row: OAuthClient, grant_types: tuple[str, ...]) -> None:
        self.client_id = row.client_id
        self.name = row.name
        self.redirect_uris = list(row.redirect_uris or [])
        self.auth_method = row.auth_method
        self.secret_sha256 = row.secret_sha256
        self.jwks_uri = row.jwks_uri
        self.jwks = row.jwks
        self.scope = row.scope or ""
        self.grant_types = grant_types

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        allowed = set(self.scope.split())
        items = [s for s in (scope or "").split() if valid_scope_item(s) and (not allowed or s in allowed)]
        return " ".join(dict.fromkeys(items))

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return bool(self.secret_sha256) and hmac.compare_digest(digest(client_secret), self.secret_sha256)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.auth_method

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


class Code(AuthorizationCodeMixin):
    def __init__(self, row: AuthCode) -> None:
        self.code_sha256 = row.code_sha256
        self.client_id = row.client_id
        self.redirect_uri = row.redirect_uri
        self.scope = row.scope
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method
        self.context = dict(row.context or {})
        self.user = row.user
        expires = row.expires if row.expires.tzinfo else row.expires.replace(tzinfo=UTC)
        self.expired = expires <= datetime.now(UTC)

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


class RefreshCredential(TokenMixin):
    """The token row a refresh token belongs to. Refresh tokens live 24 h (offline) or 1 h (online)."""

    def __init__(self, row: Token) -> None:
        self.access_sha256 = row.access_sha256
        self.client_id = row.client_id
        self.scope = row.scope
        self.context = dict(row.context or {})
        self.user = row.user
        self.revoked = row.revoked
        issued = row.issued if row.issued.tzinfo else row.issued.replace(tzinfo=UTC)
        life = timedelta(hours=24 if "offline_access" in row.scope.split() else 1)
        self.expired = issued + life <= datetime.now(UTC)

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return 0

    def is_expired(self):
        return self.expired

    def is_revoked(self):
        return self.revoked
