"""One painpa deployment as a hospital runs it (docs/deploy.md "Horizontal scaling"): several
``painpa serve`` processes, each with its own ``PAINPA_HOME``, on one database and one
``PAINPA_SECRET_KEY`` (and optionally one Redis, through ``env``), as behind a load balancer, and a
small authlib EHR (tests/smart/ehr_server.py) whose registered JWKS URL and redirect URI are those of
the public base URL (instance ``a``'s). Used by the shared-keys tests (smart_app/keys.py) and the
multi-instance test (tests/deploy/test_multi_instance.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from joserfc import jwe
from joserfc.jwk import ECKey, OctKey
from sqlalchemy import create_engine, make_url, text

from cds_service.config import Settings
from cds_service.store.base import Database
from smart_app.tables import SmartSession, digest
from tests.support.jwt import jwks, make_key
from tests.support.procs import ROOT, VENV_BIN, free_port, running, wait_for
from tests.support.smart_stack import CLIENT_ID, Ehr, ehr_process_env

NAMES = ("a", "b", "c")


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def old_release_files(home: Path, token: str) -> tuple[str, str]:
    """The key files the previous release kept in ``home``, made as it made them, and ``token``
    sealed as it sealed one (no ``kid`` header): returns (the signing kid, the sealed token)."""
    home.mkdir(parents=True, exist_ok=True)
    key = ECKey.generate_key("P-384", private=True)
    data = {**key.as_dict(private=True), "kid": key.thumbprint()}
    (home / "smart_client_key.json").write_text(json.dumps(data))
    (home / "smart_seal_key").write_text(secrets.token_urlsafe(32))
    seal_key = OctKey.import_key(hashlib.sha256((home / "smart_seal_key").read_bytes().strip()).digest())
    sealed = jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, token.encode(), seal_key, algorithms=["dir", "A256GCM"])
    return data["kid"], sealed


def fresh_postgres_database(server_url: str) -> str:
    """A database of its own on the session's PostgreSQL: other tests' keys, made under other secret
    keys, must not be this deployment's."""
    name = f"keys_{secrets.token_hex(4)}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def header_kid(compact: str) -> str | None:
    """The ``kid`` of a compact JWS or JWE's protected header."""
    segment = compact.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))).get("kid")


@dataclass
class Deployment:
    tmp: Path
    db_url: str
    secret: str
    ehr: Ehr
    ports: dict[str, int]
    procs: ExitStack
    urls: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: int = 1

    @property
    def base(self) -> str:
        """The public base URL: what the load balancer answers on (instance ``a``'s address)."""
        return f"http://127.0.0.1:{self.ports['a']}"

    def home(self, name: str) -> Path:
        return self.tmp / f"home-{name}"

    def env(self, name: str, secret: str | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PAINPA_SECRET_KEY")}
        return {**env, "PAINPA_HOME": str(self.home(name)), "PAINPA_BASE_URL": self.base,
                "DATABASE_URL": self.db_url, "PAINPA_SECRET_KEY": secret or self.secret,
                "PAINPA_WORKERS": str(self.workers), **self.extra_env}

    def start(self, *names: str, secret: str | None = None) -> str:
        """``painpa serve`` as each instance of ``names``, started together; returns the last one's address."""
        started = []
        for name in names:
            self.home(name).mkdir(parents=True, exist_ok=True)
            self.urls[name] = f"http://127.0.0.1:{self.ports[name]}"
            started.append((name, self.procs.enter_context(running(  # waited for below, all at once
                ["painpa", "serve", "--port", str(self.ports[name])], ready_url=None, env=self.env(name, secret),
                log_path=self.tmp / f"serve-{name}.log"))))
        for name, proc in started:
            wait_for(self.urls[name] + "/healthz", 60, proc)
        return self.urls[names[-1]]

    def register_ehr(self) -> None:
        jwks_file = self.tmp / "cds-client-jwks.json"
        jwks_file.write_text(json.dumps(jwks(make_key())))
        added = self.cli("clients", "add", "--iss", f"{self.ehr.base}/cds-client", "--jwks-file", str(jwks_file),
                         "--fhir-base", self.ehr.fhir, "--smart-client-id", CLIENT_ID)
        assert added.returncode == 0, added.stderr

    def log(self, name: str) -> str:
        return (self.tmp / f"serve-{name}.log").read_text(errors="replace")

    def cli(self, *args: str, name: str = "a", secret: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "painpa"), *args], env=self.env(name, secret), cwd=ROOT,
                              capture_output=True, text=True, check=False, timeout=60)

    def listed(self) -> list[dict]:
        done = self.cli("keys", "list", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def kids(self, name: str) -> list[str]:
        resp = requests.get(self.urls[name] + "/.well-known/jwks.json", timeout=5)
        assert resp.status_code == 200, resp.text
        return [k["kid"] for k in resp.json()["keys"]]

    def wait_for_kids(self, kids: list[str], names: tuple[str, ...] = ("a", "b"), timeout: float = 20) -> None:
        """Each instance re-reads the table every few seconds (keys.REFRESH_S)."""
        deadline = time.monotonic() + timeout
        while any(self.kids(n) != kids for n in names):
            assert time.monotonic() < deadline, {n: self.kids(n) for n in names}
            time.sleep(0.25)

    def launch(self, start: str, callback: str) -> tuple[requests.Session, requests.Response]:
        """An EHR launch begun on instance ``start`` whose callback the load balancer sends to
        ``callback``: that instance signs the client assertion and seals the tokens."""
        browser = requests.Session()
        browser.trust_env = False
        launch = self.ehr.launch({"patient": "pat-1"})
        r = browser.get(self.urls[start] + "/smart/launch", params={"iss": self.ehr.fhir, "launch": launch},
                        allow_redirects=False)
        assert r.status_code == 302, r.text
        r = browser.get(r.headers["Location"], allow_redirects=False)
        assert r.status_code == 302, r.text
        back = urlsplit(r.headers["Location"])
        return browser, browser.get(f"{self.urls[callback]}{back.path}?{back.query}", allow_redirects=False)

    def assertion_kid(self) -> str:
        """The kid of the last client assertion the EHR accepted or refused."""
        return header_kid(self.ehr.log()["token"][-1]["client_assertion"]) or ""

    def session_row(self, location: str) -> SmartSession:
        db = Database(self.db_url)
        try:
            with db.session() as s:
                return s.get(SmartSession, digest(location.rsplit("/", 1)[1]))
        finally:
            db.dispose()

    def settings(self, name: str = "third") -> Settings:
        """Another instance's settings, for checks made in this process."""
        return Settings.from_env(env={"DATABASE_URL": self.db_url, "PAINPA_SECRET_KEY": self.secret},
                                 home=self.home(name), base_url=self.base)


@contextmanager
def deployment(tmp: Path, db_url: str | None = None, *, env: dict | None = None, workers: int = 1,
               register: bool = True) -> Iterator[Deployment]:
    """The EHR running (and registered, unless ``register`` is False: then the first instances to
    start meet an empty database); instances are started by the test (``Deployment.start``)."""
    ports: dict[str, int] = {}
    for name in (*NAMES, "ehr"):
        while (port := free_port()) in ports.values():   # free_port() may repeat itself
            pass
        ports[name] = port
    db_url = db_url or f"sqlite:///{tmp / 'shared.db'}"
    with ExitStack() as procs:
        ehr = Ehr(ports["ehr"], "normal")
        d = Deployment(tmp, db_url, new_secret(), ehr, ports, procs, extra_env=dict(env or {}), workers=workers)
        ehr_proc = procs.enter_context(running([sys.executable, "-m", "tests.smart.ehr_server", str(ehr.port)],
                                               ready_url=None, env=ehr_process_env("normal", d.base),
                                               log_path=tmp / "ehr.log"))   # waited for after the registration
        if register:
            d.register_ehr()
        wait_for(ehr.base + "/_test/log", 30, ehr_proc)
        yield d
