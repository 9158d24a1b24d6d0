"""Real processes for the SMART app tests: ``painpa serve`` and small authlib EHRs
(tests/smart/ehr_server.py) on free loopback ports, registered with ``painpa clients add``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.jwt import jwks, make_key
from tests.support.procs import ROOT, free_port, running, wait_for

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


def _ehr_env(mode: str, painpa: str) -> dict:
    env = {"EHR_MODE": "normal" if mode in ("secret", "wrong-redirect", "short-token") else mode,
           "EHR_CLIENT_ID": CLIENT_ID, "EHR_CLIENT_JWKS_URL": painpa + "/.well-known/jwks.json",
           "EHR_REDIRECT_URIS": painpa + ("/smart/elsewhere" if mode == "wrong-redirect" else "/smart/callback")}
    if mode == "secret":
        env["EHR_CLIENT_SECRET"] = SECRET
    if mode == "short-token":
        env["EHR_TOKEN_TTL"] = "30"
    return env


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("painpa") / "instance"
    home.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"PAINPA_HOME": str(home), "PAINPA_BASE_URL": base, "PAINPA_WORKERS": "1"}
    ports: dict[str, int] = {}
    for mode in (*MODES, "foreign", "unregistered"):
        # free_port() can hand out a port twice; two EHRs on one port would answer for each other.
        while (candidate := free_port()) in (port, *ports.values()):
            pass
        ports[mode] = candidate
    key = make_key()
    jwks_file = home / "cds-client-jwks.json"
    jwks_file.write_text(json.dumps(jwks(key)))
    bin_ = str(Path(sys.executable).parent / "painpa")
    proc_env = {**os.environ, **env}

    for mode in MODES:
        subprocess.run([bin_, "clients", "add", "--iss", f"http://127.0.0.1:{ports[mode]}/cds-client",
                        "--jwks-file", str(jwks_file), "--fhir-base", f"http://127.0.0.1:{ports[mode]}/fhir",
                        "--smart-client-id", CLIENT_ID], env=proc_env, check=True, cwd=ROOT, capture_output=True)
    (home / "smart_client_secrets.json").write_text(json.dumps({f"http://127.0.0.1:{ports['secret']}/fhir": SECRET}))
    logs = home.parent

    with ExitStack() as stack_:
        stack_.enter_context(running(["painpa", "serve", "--port", str(port), "--base-url", base],
                                     ready_url=base + "/healthz", env=env, log_path=logs / "painpa.log"))
        result = Stack(base=base, home=home, cds_key=key)
        procs: dict = {}
        for mode in (*MODES, "foreign", "unregistered"):
            ehr_env = _ehr_env("normal" if mode in ("foreign", "unregistered") else mode, base)
            if mode == "foreign-next":
                ehr_env["EHR_FOREIGN_URL"] = f"http://127.0.0.1:{ports['foreign']}/fhir"
            procs[mode] = stack_.enter_context(running(  # started together, waited for below
                [sys.executable, "-m", "tests.smart.ehr_server", str(ports[mode])], ready_url=None, env=ehr_env,
                log_path=logs / f"ehr-{mode}.log"))
            ehr = Ehr(ports[mode], mode)
            if mode == "unregistered":
                result.unregistered = ehr
            else:
                result.ehrs[mode] = ehr
        for mode, proc in procs.items():
            wait_for(f"http://127.0.0.1:{ports[mode]}/_test/log", 30, proc)
        yield result
