"""``painpa sandbox`` command behaviour that the browser and HTTP tests do not cover: ``--reset``
discards only the database, and a port already in use is a clear error, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys

from cds_service.config import Settings
from sandbox.cli import _reset
from tests.support.procs import free_port


def test_reset_removes_the_database_but_keeps_keys(tmp_path):
    settings = Settings.from_env(env={}, home=tmp_path, base_url="http://127.0.0.1:8080")
    for name in ("painpa.db", "painpa.db-wal", "painpa.db-shm", "sandbox-ehr-key.json", "secret_key"):
        (tmp_path / name).write_text("x")
    _reset(settings)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sandbox-ehr-key.json", "secret_key"]


def test_port_in_use_is_reported(tmp_path):
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        done = subprocess.run([sys.executable, "-m", "cds_service.cli", "sandbox", "--port", str(port)],
                              capture_output=True, text=True, timeout=60,
                              env={"PAINPA_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
