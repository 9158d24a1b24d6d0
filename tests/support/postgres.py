"""A throw-away PostgreSQL server from Debian's packages, for tests that need several workers on one
database. PostgreSQL refuses to run as root, so the cluster belongs to the ``postgres`` system user
when the tests run as root (CI does)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.procs import free_port


def pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an SQLAlchemy URL (postgresql+psycopg) to a fresh database; the cluster is removed after."""
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    tmp = tempfile.mkdtemp(prefix="painpa-pg-")
    datadir = os.path.join(tmp, "data")
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_owner([f"{bindir}/initdb", "-D", datadir, "-U", "painpa", "--auth=trust", "-E", "UTF8"]),
        check=True, capture_output=True,
    )
    log = os.path.join(tmp, "server.log")
    subprocess.run(
        _as_owner([f"{bindir}/pg_ctl", "-D", datadir, "-l", log, "-w", "-o",
                   f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=on", "start"]),
        check=True, capture_output=True,
    )
    try:
        for _ in range(50):
            probe = subprocess.run(
                _as_owner([f"{bindir}/psql", "-h", "127.0.0.1", "-p", str(port), "-U", "painpa", "-d", "postgres",
                           "-c", "CREATE DATABASE painpa"]),
                capture_output=True,
            )
            if probe.returncode == 0:
                break
            time.sleep(0.1)
        yield f"postgresql+psycopg://painpa@127.0.0.1:{port}/painpa"
    finally:
        subprocess.run(_as_owner([f"{bindir}/pg_ctl", "-D", datadir, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
