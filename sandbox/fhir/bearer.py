"""Bearer tokens at the sandbox's resource servers: the FHIR API and the payer's Da Vinci PAS API.

RFC 6750 §2.1 (the ``Authorization: Bearer`` header) and §3 (``WWW-Authenticate``: no error code
when no token was sent, ``invalid_token`` for an unknown, revoked or expired one,
``insufficient_scope`` with 403); SMART App Launch 2.2 backend-services.md §"Access FHIR API": "The
resource server SHALL validate the access token and ensure that it has not expired and that its
scope covers the requested resource". Every refusal is an OperationOutcome (FHIR R4 http.html
§3.1.0.4), raised as :class:`FhirError` and rendered by the blueprint's one error handler.

This sits with the FHIR server, below the payer, because both check tokens the same way; the tokens
themselves are the authorization server's (``sandbox.tokens``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from cds_service import state
from sandbox.fhir.outcome import FhirError
from sandbox.scopes import access
from sandbox.tokens import TokenInfo, introspect

FHIR_REALM = "painpa-sandbox"
PAYER_REALM = "painpa-sandbox-payer"


def check(realm: str = FHIR_REALM) -> TokenInfo:
    """The request's valid token, kept in ``g.sbx_token``; 401 with an OperationOutcome otherwise."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise FhirError(401, "A bearer token from the sandbox authorization server is required (SMART App Launch; "
                             "backend services for the payer API: see docs/sandbox-testing.md)", "login",
                        headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})
    info = introspect(state.current().db, token.strip())
    if info is None:
        raise FhirError(401, "The bearer token is unknown, revoked or expired; get a new one", "login",
                        headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'})
    g.sbx_token = info
    return info


def require_token(resource_type: str, op: str, realm: str = PAYER_REALM) -> Callable:
    """Decorator: the view runs only for a valid token whose scopes allow ``op`` (one of c r u d s)
    on ``resource_type``, at any level (``system/`` for backend services, ``user/`` or ``patient/``
    through the EHR); the view may narrow a patient-level token further."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(*args, **kwargs):
            info = check(realm)
            scope = info.scope
            if request.path.startswith("/payer/"):
                # the payer's own API is for systems (SMART backend-services.md): an EHR user's or a
                # patient's token is for the EHR's /fhir, which relays Claim/$submit on their behalf
                scope = " ".join(s for s in scope.split() if s.startswith("system/"))
                if not scope:
                    raise FhirError(403, "The payer's API takes a SMART Backend Services token (system/ scopes, "
                                         "client_credentials); see docs/sandbox-testing.md", "forbidden",
                                    headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="insufficient_scope", '
                                                                 f'scope="system/{resource_type}.{op}"'})
            if access(scope, resource_type, op) is None:
                needed = f"system/{resource_type}.{op}"
                raise FhirError(403, f"The token's scopes do not allow this on {resource_type} (e.g. {needed})",
                                "forbidden", headers={"WWW-Authenticate": f'Bearer realm="{realm}", '
                                                                          f'error="insufficient_scope", scope="{needed}"'})
            return view(*args, **kwargs)

        return checked

    return decorate
