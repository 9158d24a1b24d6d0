"""``painpa audit purge`` under the minimum retention (cds_service/audit.py ``MIN_RETENTION_DAYS``):
refused without ``--force``, saying how many rows it would delete and how to confirm, with nothing
deleted; with ``--force`` it purges. Through the real command, on a database of known row ages."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cds_service.audit import MIN_RETENTION_DAYS
from cds_service.cli import main
from cds_service.store import init_db
from cds_service.store.tables import AuditEvent
from tests.support.procs import VENV_BIN

AGES = (400, 40, 10, 1)   # days


@pytest.fixture
def db(settings):
    settings.home.mkdir(parents=True)
    db = init_db(settings.database_url)
    now = datetime.now(UTC)
    with db.session() as s:
        for age in AGES:
            s.add(AuditEvent(at=now - timedelta(days=age), service_id="painpa-order-sign", latency_ms=1, status=200,
                             order_codes=[], determinations=[], card_uuids=[], incomplete=[]))
    yield db
    db.dispose()


def _purge(settings, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PAINPA_AUDIT_RETENTION_DAYS": "", "PAINPA_HOME": str(settings.home),
                "DATABASE_URL": settings.database_url, **env}
    return subprocess.run([str(VENV_BIN / "painpa"), "audit", "purge", *args], env=full_env, capture_output=True,
                          text=True, timeout=120)


def _count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent))


@pytest.mark.parametrize(("days", "older"), [(0, 4), (5, 3)])
def test_under_the_minimum_is_refused_with_what_it_would_delete(db, settings, days, older):
    out = _purge(settings, "--days", str(days))
    assert out.returncode == 2 and out.stdout == ""
    assert f"--days {days} is under the {MIN_RETENTION_DAYS}-day minimum" in out.stderr
    assert f"delete {older} of {len(AGES)} audit rows" in out.stderr and "Nothing was deleted" in out.stderr
    assert f"painpa audit purge --days {days} --force" in out.stderr
    assert _count(db) == len(AGES)


def test_force_purges_under_the_minimum(db, settings):
    out = _purge(settings, "--days", "5", "--force")
    assert out.returncode == 0, out.stderr
    assert "removed 3 audit rows older than 5 days" in out.stdout
    assert _count(db) == 1


def test_the_minimum_itself_needs_no_force(db, settings):
    out = _purge(settings, "--days", str(MIN_RETENTION_DAYS))
    assert out.returncode == 0, out.stderr
    assert _count(db) == len([a for a in AGES if a < MIN_RETENTION_DAYS])


def test_a_short_retention_from_the_environment_is_refused_too(db, settings):
    """A cron job that runs plain ``painpa audit purge`` takes the days from the environment."""
    out = _purge(settings, PAINPA_AUDIT_RETENTION_DAYS="7")
    assert out.returncode == 2
    assert "PAINPA_AUDIT_RETENTION_DAYS=7" in out.stderr and "delete 3 of 4" in out.stderr
    assert "run: painpa audit purge --force" in out.stderr
    assert _count(db) == len(AGES)


def test_a_negative_retention_is_refused_even_with_force(db, settings):
    out = _purge(settings, "--days", "-1", "--force")
    assert out.returncode == 2 and "negative" in out.stderr
    assert _count(db) == len(AGES)


def test_the_help_names_the_minimum_the_command_applies(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "purge", "--help"])
    assert f"{MIN_RETENTION_DAYS}-day minimum" in " ".join(capsys.readouterr().out.split())
