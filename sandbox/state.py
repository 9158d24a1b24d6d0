"""The sandbox's shared state, typed, in the style of the product's (cds_service/state.py): the EHR's
signing key, the SMART authorization server, the EHR's CDS Hooks client and the answers it keeps.
Made once by the sandbox app factory (sandbox/app.py) and kept beside the product's state; a request
reaches its app's through :func:`current`.

Settings and the database stay in the product's state (``cds_service.state.current().db``); nothing
else in the sandbox reads ``app.extensions``.
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Flask, current_app
from joserfc.jwk import ECKey

from sandbox.cdsclient import Answers, CdsClient

_KEY = "painpa.sandbox"


@dataclass(frozen=True)
class SandboxState:
    key: ECKey                       # the EHR's ES384 key (sandbox.keys): CDS Hooks JWTs, id_tokens, its JWKS
    auth_server: AuthorizationServer  # the SMART authorization server (sandbox.auth.server.init_auth_server)
    cds: CdsClient                   # the EHR's client of painpa's CDS service, signing with ``key``
    answers: Answers                 # the last hook answers by hookInstance, for card actions


def install(app: Flask, state: SandboxState) -> None:
    app.extensions[_KEY] = state


def of(app: Flask) -> SandboxState:
    return app.extensions[_KEY]


def current() -> SandboxState:
    """The sandbox state of the app handling the current request."""
    return of(current_app)
