"""A throw-away redis-server (Debian's package; .ci/run installs it) on a free loopback port, with
no persistence, for the tests and the bench that exercise the shared caches."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.procs import free_port, running


@contextmanager
def redis_server(workdir: Path | None = None) -> Iterator[str]:
    """Yield ``redis://127.0.0.1:PORT/0`` once the server answers PING; stop it afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: apt-get install redis-server (.ci/run does)")
    port = free_port()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="painpa-redis-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(workdir)]
    with running(cmd, ready_url=None):
        client = redis.Redis(host="127.0.0.1", port=port)
        try:
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            else:
                raise RuntimeError("redis-server did not answer")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            client.close()
