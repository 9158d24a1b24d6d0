"""The SMART app's test stack seen from a test: ``painpa serve`` and one small authlib EHR per mode
(tests/smart/ehr_server.py; normal, no PKCE S256, SMART v1, relative URLs, a client secret, ...),
started by the ``stack`` fixture of tests/smart/conftest.py. ``Stack.launch`` runs an EHR launch up to
the app's callback."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

MODES = ("normal", "no-s256", "v1", "relative", "secret", "foreign-next", "wrong-redirect", "short-token")
CLIENT_ID = "painpa-app"
SECRET = "s3cret-for-tests-only"


@dataclass
class Ehr:
    port: int
    mode: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fhir(self) -> str:
        return self.base + "/fhir"

    def log(self) -> dict:
        return requests.get(self.base + "/_test/log", timeout=5).json()

    def launch(self, context: dict) -> str:
        return requests.post(self.base + "/_test/launch", json=context, timeout=5).json()["launch"]

    def seed(self, resources: list[dict]) -> None:
        requests.post(self.base + "/_test/seed", json=resources, timeout=5).raise_for_status()

    def resources(self, rtype: str) -> list[dict]:
        return requests.get(f"{self.base}/_test/resources/{rtype}", timeout=5).json()


@dataclass
class Stack:
    base: str
    home: Path
    ehrs: dict[str, Ehr] = field(default_factory=dict)
    unregistered: Ehr | None = None
    cds_key: object = None  # private key of the registered CDS clients (their JWTs)

    def cds_iss(self, ehr: Ehr) -> str:
        return f"{ehr.base}/cds-client"

    def browser(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        return s

    def launch(self, ehr: Ehr, context: dict | None = None, session: requests.Session | None = None):
        """EHR launch up to the callback; returns (session, authorize_params, callback response)."""
        s = session or self.browser()
        launch = ehr.launch(context or {"patient": "pat-1"})
        r = s.get(f"{self.base}/smart/launch", params={"iss": ehr.fhir, "launch": launch}, allow_redirects=False)
        assert r.status_code == 302, r.text
        authorize = r.headers["Location"]
        params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
        r = s.get(authorize, allow_redirects=False)
        assert r.status_code == 302, r.text
        callback = r.headers["Location"]
        r = s.get(callback, allow_redirects=False)
        return s, params, r, callback


def ehr_process_env(mode: str, painpa: str) -> dict:
    """The environment of a test EHR process in ``mode`` whose SMART client is the painpa at ``painpa``."""
    env = {"EHR_MODE": "normal" if mode in ("secret", "wrong-redirect", "short-token") else mode,
           "EHR_CLIENT_ID": CLIENT_ID, "EHR_CLIENT_JWKS_URL": painpa + "/.well-known/jwks.json",
           "EHR_REDIRECT_URIS": painpa + ("/smart/elsewhere" if mode == "wrong-redirect" else "/smart/callback")}
    if mode == "secret":
        env["EHR_CLIENT_SECRET"] = SECRET
    if mode == "short-token":
        env["EHR_TOKEN_TTL"] = "30"
    return env
