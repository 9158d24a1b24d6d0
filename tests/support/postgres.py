"""A throw-away PostgreSQL server from Debian's packages, for tests that need several workers on one
database. PostgreSQL refuses to run as root, so the cluster belongs to the ``postgres`` system user
when the tests run as root (CI does).

:class:`PostgresCluster` can be stopped and started again on the same port and data directory, as
an operator's restart or a crash of the server looks to painpa (tests/security/test_outages.py);
:func:`postgres_server` is the simple form: a fresh database, removed afterwards.
"""

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


class PostgresCluster:
    """One private cluster (``initdb`` in a temporary folder) with a database ``painpa``, listening on
    127.0.0.1 at a port fixed for its lifetime: :meth:`stop` and :meth:`start` keep the port and the
    data directory, so a client's URL stays valid across a restart."""

    def __init__(self) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
        self.bindir = bindir
        self.tmp = tempfile.mkdtemp(prefix="painpa-pg-")
        self.datadir = os.path.join(self.tmp, "data")
        self.log = os.path.join(self.tmp, "server.log")
        self.port = free_port()
        self.url = f"postgresql+psycopg://painpa@127.0.0.1:{self.port}/painpa"
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres", "postgres")
        self._pg([f"{bindir}/initdb", "-D", self.datadir, "-U", "painpa", "--auth=trust", "-E", "UTF8"])

    def _pg(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(_as_owner(cmd), capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{os.path.basename(cmd[0])} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    @property
    def running(self) -> bool:
        return self._pg([f"{self.bindir}/pg_ctl", "-D", self.datadir, "status"], check=False).returncode == 0

    def start(self) -> None:
        """Start the server and wait until it accepts connections (``pg_ctl -w``)."""
        self._pg([f"{self.bindir}/pg_ctl", "-D", self.datadir, "-l", self.log, "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=on", "start"])

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (an operator's ``systemctl stop``: sessions are terminated, open
        transactions rolled back) or ``immediate`` (as a crash: recovery runs on the next start)."""
        self._pg([f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", mode, "-w", "-t", "60", "stop"])

    def create_database(self, name: str = "painpa") -> None:
        for _ in range(50):
            probe = self._pg([f"{self.bindir}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "painpa",
                              "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'], check=False)
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"could not create database {name}: {probe.stderr.strip()}")

    def remove(self) -> None:
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A started cluster with an empty database ``painpa`` (``cluster.url``); removed afterwards."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        cluster.create_database()
        yield cluster
    finally:
        cluster.remove()


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an SQLAlchemy URL (postgresql+psycopg) to a fresh database; the cluster is removed after."""
    with postgres_cluster() as cluster:
        yield cluster.url
