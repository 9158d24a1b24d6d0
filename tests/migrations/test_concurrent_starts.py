"""Three ``painpa serve`` instances started at once on one fresh database all come up: one creates the
schema under the migration lock, the others wait for it and find head (cds_service/store/migrate.py).
Before migrations, create_all raced on PostgreSQL and two of three crashed on a UniqueViolation.

On PostgreSQL the test holds the migration lock itself until all three are waiting for it, then lets
go, so that they really do arrive together."""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from cds_service.store import migrate
from tests.support.procs import ROOT, VENV_BIN, free_port, stop, wait_for

INSTANCES = 3


def _serve(url: str, home: Path, port: int) -> subprocess.Popen:
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAINPA_")}
    env.update(PAINPA_HOME=str(home), DATABASE_URL=url, PAINPA_BASE_URL=f"http://127.0.0.1:{port}",
               PAINPA_SECRET_KEY="concurrent-starts-" + "k" * 32)
    log = open(home / "serve.log", "wb")  # noqa: SIM115 - closed with the process below
    proc = subprocess.Popen([str(VENV_BIN / "painpa"), "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    log.close()
    return proc


def _waiting_for_the_lock(conn) -> int:
    return conn.execute(text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).scalar()


def test_three_instances_started_at_once_on_a_fresh_database_all_come_up(new_database, tmp_path):
    url = new_database()
    engine = create_engine(url)
    ports = [free_port() for _ in range(INSTANCES)]
    with ExitStack() as stack:
        holder = None
        if engine.dialect.name == "postgresql":
            holder = stack.enter_context(engine.connect())
            holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": migrate.LOCK_KEY})
        procs = [_serve(url, tmp_path / f"instance-{n}", port) for n, port in enumerate(ports)]
        for proc in procs:
            stack.callback(stop, proc)
        if holder is not None:
            with engine.connect() as watcher:
                deadline = time.monotonic() + 60
                while _waiting_for_the_lock(watcher) < INSTANCES:
                    assert time.monotonic() < deadline, "the instances never all waited for the migration lock"
                    assert all(p.poll() is None for p in procs), "an instance exited before the lock was free"
                    time.sleep(0.05)
            holder.rollback()   # lets them go, together
        for proc, port in zip(procs, ports, strict=True):
            wait_for(f"http://127.0.0.1:{port}/healthz", timeout=90, proc=proc)
            assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
        logs = "".join((tmp_path / f"instance-{n}" / "serve.log").read_text(errors="replace") for n in range(INSTANCES))
    assert "Traceback" not in logs and "UniqueViolation" not in logs, logs[-3000:]
    with engine.connect() as conn:
        assert migrate.status(conn).at_head
    engine.dispose()
