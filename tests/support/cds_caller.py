"""A CDS client calling an in-process painpa app (Flask test client): every call carries a fresh JWT
signed with the client's key, ``aud`` the exact endpoint URL (CDS Hooks 2.0 §Trusting CDS Clients)."""

from __future__ import annotations

import json

from cds_service import state
from tests.support import jwt as tjwt
from tests.support.hook_requests import ISS


class Caller:
    """Signs a fresh JWT for each call, with ``aud`` the exact endpoint URL."""

    def __init__(self, app, key) -> None:
        self.app, self.key, self.http = app, key, app.test_client()
        self.base = state.of(app).settings.base_url

    def post(self, service: str, body, *, key=None, token: str | None = None, path_suffix: str = "", **claims):
        path = f"/cds-services/{service}{path_suffix}"
        aud = claims.pop("aud", self.base + path)
        iss = claims.pop("iss", ISS)
        jwt_ = token or tjwt.sign(key or self.key, iss, aud, **claims)
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.http.post(path, data=data, headers={**tjwt.bearer(jwt_), "Content-Type": "application/json"})

    def feedback(self, service: str, body, **kw):
        return self.post(service, body, path_suffix="/feedback", **kw)
