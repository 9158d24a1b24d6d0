"""``painpa serve`` as a real process (gunicorn, several workers) with a registered client whose keys
are generated here, the hostile FHIR server (tests/support/hostile_fhir.py) as a second process, and
a signer for hook and feedback calls. Used by the security and speed tests and by their
``make soak`` versions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support import jwt as tjwt
from tests.support.hook_requests import DATA
from tests.support.procs import VENV_BIN, free_port, running

ISS = "https://hostile-test-ehr.example/cds"
ACCESS_TOKEN = "sec-access-token-" + "7f3a9c" * 6
SIGN = "painpa-order-sign"
SELECT = "painpa-order-select"


def painpa_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "painpa"), *args], env=env, capture_output=True, text=True, check=False)


@contextmanager
def hostile_fhir(data: Path | None = DATA / "record.json") -> Iterator[HostileFhir]:
    port = free_port()
    cmd = [sys.executable, "-m", "tests.support.hostile_fhir", "--port", str(port)]
    if data:
        cmd += ["--data", str(data)]
    with running(cmd, ready_url=f"http://127.0.0.1:{port}/healthz"):
        yield HostileFhir(f"http://127.0.0.1:{port}")


class HostileFhir:
    def __init__(self, root: str) -> None:
        self.root = root
        self.base = f"{root}/fhir"

    def mode(self, mode: str, types: list[str] | None = None, delay: float = 5.0, target: str | None = None) -> None:
        requests.post(f"{self.root}/_control", json={"mode": mode, "types": types or [], "delay": delay,
                                                     "target": target}, timeout=5).raise_for_status()
        requests.delete(f"{self.root}/_log", timeout=5)

    def log(self) -> list[dict]:
        return requests.get(f"{self.root}/_log", timeout=5).json()


@dataclass
class Service:
    base: str
    key: object
    home: Path
    log_path: Path
    extra_env: dict = field(default_factory=dict)
    pid: int = 0  # the gunicorn master (``painpa serve`` runs the arbiter in its own process)

    def url(self, service: str, suffix: str = "") -> str:
        return f"{self.base}/cds-services/{service}{suffix}"

    def post(self, service: str, body, *, suffix: str = "", timeout: float = 30, token: str | None = None,
             raw: bytes | None = None, headers: dict | None = None) -> requests.Response:
        url = self.url(service, suffix)
        jwt_ = token or tjwt.sign(self.key, ISS, url)
        data = raw if raw is not None else json.dumps(body).encode()
        return requests.post(url, data=data, timeout=timeout,
                             headers={**tjwt.bearer(jwt_), "Content-Type": "application/json", **(headers or {})})

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def painpa_service(fhir_bases: list[str], *, workers: int = 2, env: dict | None = None,
                   database_url: str | None = None, home: Path) -> Iterator[Service]:
    """``painpa serve`` with one registered client (ES384 key made here) allowed ``fhir_bases``."""
    home.mkdir(parents=True, exist_ok=True)
    key = tjwt.make_key("ES384")
    (home / "client-jwks.json").write_text(json.dumps(tjwt.jwks(key)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "PAINPA_HOME": str(home), "PAINPA_BASE_URL": base, **(env or {})}
    full_env.pop("DATABASE_URL", None)
    if database_url:
        full_env["DATABASE_URL"] = database_url
    args = ["clients", "add", "--iss", ISS, "--jwks-file", str(home / "client-jwks.json"),
            "--default-state", "TX", "--default-pos", "24", "--replace"]   # a shared database may hold it
    for b in fhir_bases:
        args += ["--fhir-base", b]
    added = painpa_cli(full_env, *args)
    assert added.returncode == 0, added.stderr
    log_path = home / "serve.log"
    with running(["painpa", "serve", "--port", str(port), "--workers", str(workers)], ready_url=f"{base}/healthz",
                 env=full_env, log_path=log_path, timeout=60) as proc:
        yield Service(base, key, home, log_path, full_env, proc.pid)


def timed(fn, *args, **kwargs) -> tuple[requests.Response, float]:
    started = time.monotonic()
    resp = fn(*args, **kwargs)
    return resp, time.monotonic() - started
