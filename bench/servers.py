"""The processes a bench run needs, each a real process on a loopback port: ``painpa serve`` under
gunicorn (with a registered client whose keys are generated here), the bare-Flask baseline under
the same gunicorn settings, and a FHIR R4 server holding the synthetic patient with injected
latency (tests/support/fhir_server.py: it can add latency per query, which the sandbox's cannot).
Peak memory is sampled with psutil over a server's whole process tree (gunicorn arbiter + workers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests

from tests.support import jwt as tjwt
from tests.support.procs import ROOT, VENV_BIN, free_port, running
from tests.support.redis_server import redis_server  # noqa: F401 - part of the harness API

ISS = "https://bench-ehr.example/cds"
FHIR_TYPES = ("Patient", "Coverage", "Condition", "Procedure", "MedicationRequest", "MedicationStatement",
              "Observation", "DiagnosticReport", "ImagingStudy", "DocumentReference", "ClaimResponse", "Claim",
              "PractitionerRole", "Practitioner", "Location", "Organization", "Encounter")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (gunicorn's arbiter and workers)."""
    total = 0.0
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


class MemoryPeak:
    """Samples the summed RSS of a process and its descendants every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._proc = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak_bytes = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> int:
        total = 0
        try:
            procs = [self._proc, *self._proc.children(recursive=True)]
        except psutil.Error:
            return 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_bytes = max(self.peak_bytes, self._sample())

    def reset(self) -> None:
        self.peak_bytes = self._sample()

    def __enter__(self) -> MemoryPeak:
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class FhirServer:
    """A running fixture FHIR server: its base URL, a switch for the latency of every query, and
    whether it takes ``batch`` Bundles (and says so in its CapabilityStatement)."""

    def __init__(self, root: str, batch: bool = False) -> None:
        self.root = root
        self.base = f"{root}/fhir"
        self.batch = batch
        self.set_latency(0)

    def set_latency(self, seconds: float) -> None:
        slow = dict.fromkeys(FHIR_TYPES, seconds) if seconds else {}
        requests.post(f"{self.root}/_control", json={"slow": slow, "batch": self.batch}, timeout=5).raise_for_status()

    def clear_log(self) -> None:
        requests.delete(f"{self.root}/_log", timeout=5).raise_for_status()

    def reads(self) -> int:
        """FHIR requests received since :meth:`clear_log` (every page of a search counts; a batch
        is one request, its entries are not counted)."""
        return sum(not e["batch"] for e in requests.get(f"{self.root}/_log", timeout=30).json())


@contextmanager
def fhir_server(resources: list[dict], workdir: Path, *, page_size: int = 1000,
                batch: bool = False) -> Iterator[FhirServer]:
    """A fixture FHIR server process holding ``resources``. ``page_size`` is the server's page: a
    history larger than one page costs one more sequential round trip per extra page. ``batch``:
    it takes ``batch`` Bundles and its CapabilityStatement says so."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "fhir-data.json"
    data.write_text(json.dumps(resources))
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(port), "--data", str(data),
           "--page-size", str(page_size), "--keep-alive"]
    with running(cmd, ready_url=f"{root}/fhir/metadata"):
        yield FhirServer(root, batch)


class Painpa:
    """A running ``painpa serve`` and the key its registered client signs with."""

    def __init__(self, base: str, pid: int, key) -> None:
        self.base, self.pid, self.key = base, pid, key

    def url(self, service: str) -> str:
        return f"{self.base}/cds-services/{service}"

    def auth_headers(self, service: str, n: int) -> list[str | None]:
        """``n`` fresh JWTs (unique ``jti``) for ``service``, signed before any clock starts."""
        aud = self.url(service)
        return ["Bearer " + tjwt.sign(self.key, ISS, aud) for _ in range(n)]


def serve_env(home: Path, base: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PAINPA_HOME": str(home), "PAINPA_BASE_URL": base}
    env.pop("DATABASE_URL", None)
    env.update(extra or {})
    return env


@contextmanager
def painpa(home: Path, fhir_bases: list[str], *, workers: int = 2, env: dict[str, str] | None = None,
           log_path: Path | None = None) -> Iterator[Painpa]:
    """``painpa serve`` under gunicorn with a bench client registered (``painpa clients add``)."""
    home.mkdir(parents=True, exist_ok=True)
    key = tjwt.make_key("ES384")
    (home / "jwks.json").write_text(json.dumps(tjwt.jwks(key)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = serve_env(home, base, env)
    cmd = [str(VENV_BIN / "painpa"), "clients", "add", "--iss", ISS, "--jwks-file", str(home / "jwks.json")]
    for fhir_base in fhir_bases:
        cmd += ["--fhir-base", fhir_base]
    subprocess.run(cmd, env=full_env, check=True, capture_output=True, cwd=ROOT)
    with running(["painpa", "serve", "--port", str(port), "--workers", str(workers)], ready_url=f"{base}/healthz",
                 env=full_env, log_path=log_path, timeout=60) as proc:
        yield Painpa(base, proc.pid, key)


@contextmanager
def baseline(*, workers: int = 2) -> Iterator[tuple[str, int]]:
    """The bare-Flask baseline under the same gunicorn settings: (base URL, pid)."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.baseline", "--port", str(port), "--workers", str(workers)]
    with running(cmd, ready_url=f"http://127.0.0.1:{port}/healthz") as proc:
        yield f"http://127.0.0.1:{port}", proc.pid
