"""Real processes for integration tests: a free loopback port, and a child process that is waited on
until a URL answers, then stopped (SIGTERM, then SIGKILL) whatever the test did."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


@contextmanager
def running(
    cmd: Sequence[str],
    *,
    ready_url: str | None,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    log_path: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Start ``cmd`` (``painpa`` resolves to the venv's script), wait for ``ready_url``, yield it."""
    cmd = list(cmd)
    if cmd[0] == "painpa":
        cmd[0] = str(VENV_BIN / "painpa")
    full_env = {**os.environ, **(env or {})}
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        if ready_url:
            wait_for(ready_url, timeout, proc)
        yield proc
    finally:
        stop(proc)
        if log_path:
            out.close()


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """End ``proc`` and its process group (gunicorn's workers too): SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
