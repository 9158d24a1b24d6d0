"""The EHR side of CDS Hooks 2.0: discovery, service calls and feedback over HTTP, each with a JWT
signed by the sandbox's ES384 key (CDS Hooks 2.0 §"Trusting CDS Clients": iss, aud = the endpoint
URL, exp, iat, jti; header alg, kid, typ). The EHR talks to painpa like any EHR would.

``Answers`` keeps the last answers by hookInstance, so that a card can be acted on after it is
shown: feedback names the service that sent it (§Feedback), a suggestion is applied to the draft
order it came with, a SMART link launches with its patient.
"""

from __future__ import annotations

import threading
import time
import uuid

import requests
from cachetools import TTLCache
from joserfc import jwt
from joserfc.jwk import ECKey

TIMEOUT = (2.0, 10.0)


class CdsError(RuntimeError):
    """The CDS service could not be reached or answered an error; the message is for the screen."""


class CdsClient:
    def __init__(self, base_url: str, iss: str, key: ECKey) -> None:
        self.base = base_url.rstrip("/") + "/cds-services"
        self.iss = iss
        self.key = key
        self.http = requests.Session()
        self._services: tuple[float, list[dict]] | None = None

    def _jwt(self, aud: str) -> str:
        now = int(time.time())
        claims = {"iss": self.iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
        return jwt.encode({"alg": "ES384", "kid": self.key.kid, "typ": "JWT"}, claims, self.key, algorithms=["ES384"])

    def _send(self, method: str, url: str, body: dict | None = None) -> dict:
        try:
            resp = self.http.request(method, url, json=body, timeout=TIMEOUT,
                                     headers={"Authorization": f"Bearer {self._jwt(url)}", "Accept": "application/json"})
        except requests.RequestException as exc:
            raise CdsError(f"painpa CDS service unreachable: {type(exc).__name__}") from None
        if resp.status_code >= 400:
            detail = ""
            try:
                issues = resp.json().get("issue") or []
                detail = "; ".join(i.get("diagnostics", "") for i in issues if isinstance(i, dict))
            except ValueError:
                pass
            raise CdsError(f"painpa CDS service answered {resp.status_code}{': ' + detail if detail else ''}")
        return resp.json() if resp.content else {}

    def services(self) -> list[dict]:
        if self._services is None or self._services[0] < time.monotonic():
            found = self._send("GET", self.base).get("services") or []
            self._services = (time.monotonic() + 60, found)
        return self._services[1]

    def service_for(self, hook: str) -> dict:
        for service in self.services():
            if service.get("hook") == hook:
                return service
        raise CdsError(f"painpa offers no service for the {hook} hook")

    def call(self, service_id: str, body: dict) -> dict:
        return self._send("POST", f"{self.base}/{service_id}", body)

    def feedback(self, service_id: str, items: list[dict]) -> dict:
        return self._send("POST", f"{self.base}/{service_id}/feedback", {"feedback": items})


class Answers:
    """The last answers by hookInstance, for card actions; a lock because the server is threaded and
    cachetools caches are not thread-safe."""

    def __init__(self) -> None:
        self._cache: TTLCache = TTLCache(maxsize=512, ttl=3600)
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            return self._cache.get(key)

    def __setitem__(self, key: str, value: dict) -> None:
        with self._lock:
            self._cache[key] = value
