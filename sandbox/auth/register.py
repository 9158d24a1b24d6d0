"""RFC 7591 dynamic client registration at ``POST /auth/register``, the ``registration_endpoint`` the
smart-configuration advertises (SMART App Launch 2.2 conformance.md; backend-services.md lists RFC
7591 among its underlying standards). authlib's ``ClientRegistrationEndpoint`` parses and checks the
client metadata (RFC 7591 §2); the client is then registered by the same rules as
``painpa sandbox apps add`` (``sandbox.auth.apps``).

The sandbox holds synthetic patients only and listens on loopback by default, so registration is
open (no initial access token, RFC 7591 §3). What an open endpoint must not allow is kept out:

* ``jwks_uri`` is refused: the server would fetch whatever URL a caller registered (a request to a
  host the operator never named); register the keys inline as ``jwks``, or have the operator run
  ``painpa sandbox apps add --jwks-url``.
* ``client_secret_basic`` clients get a generated secret, shown once in the response, kept as a digest.
"""

from __future__ import annotations

import secrets

from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError

from cds_service import state
from sandbox.auth.apps import AppError, add_app, implied_grants
from sandbox.tokens import digest

AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "none"]
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]


class _Open:
    """The credential of an open registration request (RFC 7591 §3: the initial access token is optional)."""


class Registration(ClientRegistrationEndpoint):
    def authenticate_token(self, request):
        return _Open()

    def get_server_metadata(self):
        return {"grant_types_supported": GRANT_TYPES, "response_types_supported": ["code"],
                "token_endpoint_auth_methods_supported": AUTH_METHODS}

    def generate_client_id(self, request):
        return f"dyn-{secrets.token_urlsafe(12)}"

    def generate_client_info(self, request):
        info = super().generate_client_info(request)
        # RFC 7591 §2: token_endpoint_auth_method defaults to client_secret_basic; only those get a secret.
        if request.payload.data.get("token_endpoint_auth_method", "client_secret_basic") != "client_secret_basic":
            info.pop("client_secret", None)
            info.pop("client_secret_expires_at", None)
        return info

    def save_client(self, client_info, client_metadata, request):
        if client_metadata.get("jwks_uri"):
            raise InvalidClientMetadataError("jwks_uri is not accepted here: register the public keys inline as "
                                             "jwks (or ask the operator: painpa sandbox apps add --jwks-url)")
        method = client_metadata.get("token_endpoint_auth_method")
        secret = client_info.get("client_secret")
        scope = client_metadata.get("scope") or ""
        redirect_uris = client_metadata.get("redirect_uris") or ()
        requested = set(client_metadata.get("grant_types") or ["authorization_code"])
        possible = set(implied_grants(redirect_uris, method, scope))
        if not requested <= possible:
            # A grant the metadata cannot support is refused, not silently left out.
            raise InvalidClientMetadataError(
                f"grant_types {sorted(requested - possible)} not possible: authorization_code needs redirect_uris; "
                "client_credentials needs private_key_jwt, jwks and system/ scopes")
        try:
            return add_app(state.current().db, client_id=client_info["client_id"], redirect_uris=redirect_uris,
                           jwks=client_metadata.get("jwks"), public=method == "none",
                           secret_sha256=digest(secret) if secret else None, scope=scope,
                           name=client_metadata.get("client_name") or "", source="dynamic",
                           client_metadata=client_metadata, replace=False)
        except AppError as exc:
            raise InvalidClientMetadataError(str(exc)) from None
