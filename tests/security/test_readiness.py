"""``/readyz`` fails when the node cannot write (docs/security.md §2.7; the contract's health
endpoints): every hook call writes its audit row, so a node that can read its database but not write
to it answers 503 to every call and must leave the load balancer.

Reproduction from an attack run: on a full disk every hook call answered 503 while ``/readyz`` said
ready. Here with real processes: ``painpa serve`` on SQLite on a small, filled tmpfs (a real full
disk), and on PostgreSQL turned read-only (as a replica is after a fail-over); in both, ``/readyz``
goes to 503, hook calls are honest 503s, and both recover without a restart once the fault is gone.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.support.hook_requests import full_prefetch, hook_body
from tests.support.postgres import postgres_cluster
from tests.support.serve_harness import SIGN, painpa_service

SETTLE_S = 10.0   # the write probe runs at most every 5 s per worker


def _ready(svc) -> requests.Response:
    return requests.get(f"{svc.base}/readyz", timeout=10)


def _until(svc, status: int) -> tuple[requests.Response, float]:
    started = time.monotonic()
    while True:
        resp = _ready(svc)
        if resp.status_code == status or time.monotonic() - started > SETTLE_S:
            return resp, time.monotonic() - started
        time.sleep(0.2)


def _hook(svc) -> requests.Response:
    body = hook_body(prefetch=full_prefetch())
    body["hookInstance"] = str(uuid.uuid4())
    return svc.post(SIGN, body, timeout=15)


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 4 MB tmpfs: a disk that can really fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root, as CI runs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_readyz_fails_on_a_full_disk_and_recovers(tmp_path, small_disk):
    url = f"sqlite:///{small_disk / 'painpa.db'}"
    with painpa_service(["https://e.example/fhir"], home=tmp_path / "home", database_url=url,
                        env={"PAINPA_RATE_LIMIT": "0", "PAINPA_DB_BUSY_TIMEOUT_MS": "500"}) as svc:
        assert _ready(svc).status_code == 200 and _hook(svc).status_code == 200
        filler = _fill(small_disk)
        not_ready, took = _until(svc, 503)
        assert not_ready.status_code == 503, not_ready.text
        assert not_ready.json()["checks"]["database_write"].startswith("error")
        refused = _hook(svc)
        assert refused.status_code == 503 and refused.headers.get("Retry-After")
        assert refused.json()["issue"][0]["code"] == "transient"
        os.unlink(filler)
        ready, back = _until(svc, 200)
        assert ready.status_code == 200 and _hook(svc).status_code == 200
        print(f"\nfull disk: /readyz 503 after {took:.1f} s, a hook call 503 + Retry-After; "
              f"ready again {back:.1f} s after space was freed")


@pytest.mark.postgres
def test_readyz_fails_when_postgresql_turns_read_only_and_recovers(tmp_path):
    with postgres_cluster() as pg:
        def psql(sql: str) -> None:
            done = pg._pg([f"{pg.bindir}/psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "painpa", "-d",
                           "painpa", "-c", sql])
            assert done.returncode == 0, done.stderr

        with painpa_service(["https://e.example/fhir"], home=tmp_path / "home", database_url=pg.url,
                            env={"PAINPA_RATE_LIMIT": "0"}) as svc:
            assert _ready(svc).status_code == 200 and _hook(svc).status_code == 200
            psql("ALTER SYSTEM SET default_transaction_read_only = on")
            psql("SELECT pg_reload_conf()")
            not_ready, took = _until(svc, 503)
            assert not_ready.status_code == 503, not_ready.text
            checks = not_ready.json()["checks"]
            assert checks["database"] == "ok" and checks["database_write"].startswith("error")
            assert _hook(svc).status_code == 503   # never 200 without its audit row
            psql("ALTER SYSTEM RESET default_transaction_read_only")
            psql("SELECT pg_reload_conf()")
            ready, back = _until(svc, 200)
            assert ready.status_code == 200 and _hook(svc).status_code == 200
            print(f"\nread-only PostgreSQL: /readyz 503 after {took:.1f} s (reads still ok); "
                  f"ready again {back:.1f} s after it was writable")
