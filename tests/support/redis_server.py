"""A throw-away redis-server (Debian's package; .ci/run installs it) on a free loopback port, with
no persistence, for the tests and the bench that exercise the shared caches.

:class:`RedisServer` can be stopped and started again on the same port (tests/security/test_outages.py):
with no persistence a restarted Redis has forgotten every key, as a production Redis without
``appendonly`` does after a restart.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.procs import free_port


class RedisServer:
    """One redis-server process at a port fixed for the object's lifetime (``url``)."""

    def __init__(self, workdir: Path | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server (.ci/run does)")
        self.port = free_port()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="painpa-redis-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", str(self.workdir)]
        self._proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self, timeout: float = 10.0) -> None:
        """Start redis-server and wait until it answers PING."""
        if self.running:
            return
        self._proc = subprocess.Popen(self._cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        client = self.client()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self._proc.returncode} at start")
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not answer")
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM; SIGKILL if it lingers) and wait until the port is closed."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


@contextmanager
def redis_server(workdir: Path | None = None) -> Iterator[str]:
    """Yield ``redis://127.0.0.1:PORT/0`` once the server answers PING; stop it afterwards."""
    with redis_restartable(workdir) as server:
        yield server.url


@contextmanager
def redis_restartable(workdir: Path | None = None) -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped afterwards whatever the test did with it."""
    server = RedisServer(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
