"""The production image (deploy/Containerfile) without a container engine: its steps from WORKDIR on,
read from the file itself, replayed into a fresh Python 3.11 venv standing in for the image's
interpreter. Its COPY lines fill a build context from this repository and its RUN lines run there
(with their own checks: lock installed with hashes, ``pip check``, no sandbox). Then the result is
held to what the image promises: no ``sandbox`` package nor ``painpa sandbox`` command, painpa's
files from the built wheel (not this checkout), and ``painpa serve`` answering /healthz and
discovery. Slow: it installs every locked package into the new venv (pip's cache helps)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.support.procs import ROOT, free_port, stop, wait_for

CONTAINERFILE = ROOT / "deploy" / "Containerfile"
pytestmark = pytest.mark.slow


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in CONTAINERFILE.read_text().splitlines()
                                          if not line.lstrip().startswith("#")))
    return [(op.upper(), rest.strip()) for op, _, rest in (line.strip().partition(" ")
                                                          for line in text.splitlines() if line.strip())]


def replay(workdir: Path, venv: Path) -> tuple[dict[str, str], list[str]]:
    """Run the Containerfile's COPY and RUN steps from WORKDIR on; return the ENV and the CMD."""
    env: dict[str, str] = {}
    cmd: list[str] = []
    image_workdir = None
    for op, args in instructions():
        if op == "FROM":
            assert args.startswith("python:3.11"), args   # the stand-in venv is Python 3.11
        elif op == "ENV":
            env.update(dict(part.split("=", 1) for part in shlex.split(args)))
        elif op == "WORKDIR":
            image_workdir = args
        elif op == "COPY" and image_workdir:
            *sources, dest = shlex.split(args)
            for source in sources:
                target = workdir / dest / Path(source).name if dest.endswith("/") else workdir / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(ROOT / source, target)
        elif op == "RUN" and image_workdir:
            script = args.replace(image_workdir, str(workdir))
            run_env = {**_machine_env(venv), **{k: v for k, v in env.items() if not k.startswith("PIP_NO_CACHE")}}
            done = subprocess.run(["/bin/sh", "-c", script], cwd=workdir, env=run_env, capture_output=True,
                                  text=True, timeout=900)
            assert done.returncode == 0, f"RUN {script}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        elif op == "CMD":
            cmd = json.loads(args)
    return env, cmd


def _machine_env(venv: Path) -> dict[str, str]:
    """The image's PATH, with this machine's pip settings and cache (so that the test is not a
    download of every package each time)."""
    keep = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("HOME", "LANG", "TMPDIR")}
    return {**keep, "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"}


@contextmanager
def serving(cmd: list[str], env: dict[str, str], cwd: Path, base: str, log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            try:
                wait_for(f"{base}/healthz", timeout=60, proc=proc)
            except (RuntimeError, TimeoutError) as exc:
                raise AssertionError(f"{exc}\n{log.read_text(errors='replace')[-3000:]}") from None
            yield proc
        finally:
            stop(proc, timeout=15)


def test_the_image_has_no_sandbox_and_serves(tmp_path):
    venv, workdir, home, elsewhere = (tmp_path / d for d in ("venv", "opt-painpa", "home", "cwd"))
    for d in (workdir, home, elsewhere):
        d.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    image_env, cmd = replay(workdir, venv)
    env = {**_machine_env(venv), **image_env, "PAINPA_HOME": str(home)}
    python = str(venv / "bin" / "python")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)

    # No sandbox: not importable, not among painpa's installed files, no command; the product's are there.
    assert run(python, "-c", "import sandbox").returncode != 0
    files = run(python, "-c", "from importlib.metadata import files; print(*files('painpa'), sep='\\n')").stdout
    assert "cds_service/cli.py" in files and "smart_app/" in files and "fhir_profiles/" in files
    assert not [f for f in files.splitlines() if f.startswith("sandbox/")]
    where = run(python, "-c", "import cds_service; print(cds_service.__file__)").stdout
    assert where.startswith(str(venv)), where   # the wheel's copy, not this checkout
    listing = run(str(venv / "bin" / "painpa"), "--help")
    assert listing.returncode == 0 and listing.stderr == "", listing.stderr
    assert "serve" in listing.stdout and "sandbox" not in listing.stdout
    refused = run(str(venv / "bin" / "painpa"), "sandbox")
    assert refused.returncode == 2 and "invalid choice: 'sandbox'" in refused.stderr

    # The image's CMD, on a free loopback port instead of 0.0.0.0:8080.
    assert cmd[:2] == ["painpa", "serve"], cmd
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [str(venv / "bin" / "painpa"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serving(args, {**env, "PAINPA_BASE_URL": base}, elsewhere, base, tmp_path / "serve.log"):
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        discovery = requests.get(f"{base}/cds-services", timeout=10)
        assert discovery.status_code == 200 and discovery.json()["services"]
