"""Engine and session factory shared by every surface (CDS service, SMART app, sandbox, admin).

SQLite runs in WAL mode with ``synchronous=FULL`` so that an acknowledged write survives a killed
worker; PostgreSQL needs nothing special. Sessions are short: one unit of work per request.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Modules that declare tables. A surface that adds tables appends its module here.
TABLE_MODULES = (
    "cds_service.store.tables",
    "cds_service.insights.tables",
    "sandbox.tables",
    "smart_app.tables",
    "cds_service.security.tables",
)


class Base(DeclarativeBase):
    pass


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """One engine per process; ``session()`` is a transactional scope (commit on success)."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 5}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        s = self._factory()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def create_all(self) -> None:
        for name in TABLE_MODULES:
            importlib.import_module(name)
        Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def init_db(url: str) -> Database:
    db = Database(url)
    db.create_all()
    return db
