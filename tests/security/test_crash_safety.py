"""Crash safety of acknowledged writes (CDS Hooks 2.0 §Feedback; CRD 2.2 found-37 audit
logs): while clients post feedback and hook calls to ``painpa serve`` (2 gunicorn workers), workers
are killed with SIGKILL mid-stream. Every feedback item answered 200 and every hook call answered
200 must be in the database afterwards (feedback rows by card uuid, audit rows by hookInstance),
on SQLite in WAL mode and on PostgreSQL (Debian's server, started by tests/conftest.py).

A call cut off by the kill was never acknowledged: the EHR sees a connection error and may retry
(feedback is idempotent), so only acknowledged writes are counted.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
from sqlalchemy import create_engine, text

from tests.support.hook_requests import full_prefetch, hook_body
from tests.support.serve_harness import SIGN, painpa_service

CI_SECONDS, CI_KILLS = 6.0, 3
SOAK_SECONDS, SOAK_KILLS = 60.0, 30


def _feedback(svc, card: str) -> int:
    body = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-29T10:00:00Z",
                          "overrideReason": {"userComment": "crash test"}}]}
    return svc.post(SIGN, body, suffix="/feedback", timeout=10).status_code


def _hook(svc, instance: str) -> int:
    body = hook_body(prefetch=full_prefetch())
    body["hookInstance"] = instance
    return svc.post(SIGN, body, timeout=10).status_code


def _drive(svc, seconds: float, kills: int) -> dict:
    acked_cards: list[str] = []
    acked_hooks: list[str] = []
    errors = 0
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(kind: str) -> None:
        nonlocal errors
        while time.monotonic() < stop:
            ident = str(uuid.uuid4())
            try:
                status = _feedback(svc, ident) if kind == "feedback" else _hook(svc, ident)
            except requests.RequestException:
                with lock:
                    errors += 1
                continue
            with lock:
                if status == 200:
                    (acked_cards if kind == "feedback" else acked_hooks).append(ident)

    master = psutil.Process(svc.pid)
    killed = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(client, kind) for kind in ("feedback", "hook") * 4]
        interval = seconds / (kills + 1)
        while killed < kills and time.monotonic() < stop - 0.2:
            time.sleep(interval)
            workers = master.children()
            if workers:
                os.kill(workers[killed % len(workers)].pid, signal.SIGKILL)
                killed += 1
        for f in futures:
            f.result()
    return {"cards": acked_cards, "hooks": acked_hooks, "errors": errors, "kills": killed}


def _stored(url: str, cards: list[str], hooks: list[str]) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            fb = {r[0] for r in conn.execute(text("SELECT card FROM cds_feedback"))}
            au = {r[0] for r in conn.execute(text("SELECT hook_instance FROM cds_audit"))}
    finally:
        engine.dispose()
    return len(set(cards) & fb), len(set(hooks) & au)


def _run(tmp_path, database_url: str | None, seconds: float, kills: int, label: str) -> None:
    home = tmp_path / label
    with painpa_service(["https://e.example/fhir"], home=home, database_url=database_url,
                        env={"PAINPA_RATE_LIMIT": "0"}) as svc:
        figures = _drive(svc, seconds, kills)
    url = database_url or f"sqlite:///{home / 'painpa.db'}"
    fb, au = _stored(url, figures["cards"], figures["hooks"])
    lost = (len(figures["cards"]) - fb) + (len(figures["hooks"]) - au)
    print(f"\ncrash safety [{label}]: {figures['kills']} workers killed, {len(figures['cards'])} feedback + "
          f"{len(figures['hooks'])} hook calls acknowledged, {fb} + {au} stored, {lost} lost, "
          f"{figures['errors']} calls cut off (unacknowledged)")
    assert figures["kills"] >= 1 and figures["cards"] and figures["hooks"]
    assert lost == 0


def test_no_acknowledged_write_lost_when_workers_are_killed_sqlite_wal(tmp_path):
    _run(tmp_path, None, CI_SECONDS, CI_KILLS, "sqlite-wal")


@pytest.mark.postgres
def test_no_acknowledged_write_lost_when_workers_are_killed_postgresql(tmp_path, postgres_url):
    _run(tmp_path, postgres_url, CI_SECONDS, CI_KILLS, "postgresql")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_soak_crash_safety(tmp_path, backend, request):
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    _run(tmp_path, url, SOAK_SECONDS, SOAK_KILLS, f"soak-{backend}")
