"""SQLite's write lock held by another connection, as an admin import's open transaction holds it:
for tests of a busy database (cds_service/http_errors.py answers 503 + Retry-After)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import make_url

from cds_service import state


def sqlite_path(app) -> Path:
    return Path(make_url(state.of(app).db.url).database)


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()
