"""SQLite durability level (cds_service/store/base.py; docs/deploy.md §3): WAL with
``synchronous=NORMAL`` unless the operator asks for FULL; a typo refuses to start rather than
silently running at some other level. That acknowledged writes survive a killed worker at the
default level is tests/security/test_crash_safety.py."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cds_service.store.base import Database, sqlite_synchronous

_LEVEL = {1: "NORMAL", 2: "FULL"}


def _pragmas(db: Database) -> tuple[str, str]:
    with db.engine.connect() as conn:
        return (_LEVEL[conn.execute(text("PRAGMA synchronous")).scalar_one()],
                conn.execute(text("PRAGMA journal_mode")).scalar_one())


def test_default_is_wal_normal(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("PAINPA_SQLITE_SYNCHRONOUS", raising=False)
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        assert _pragmas(db) == ("NORMAL", "wal")
    finally:
        db.dispose()


def test_operator_can_choose_full(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PAINPA_SQLITE_SYNCHRONOUS", "full")
    db = Database(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        assert _pragmas(db) == ("FULL", "wal")
    finally:
        db.dispose()


@pytest.mark.parametrize("bad", ["OFF", "EXTRA", "1", "normal; DROP TABLE x"])
def test_unknown_level_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="PAINPA_SQLITE_SYNCHRONOUS"):
        sqlite_synchronous({"PAINPA_SQLITE_SYNCHRONOUS": bad})
