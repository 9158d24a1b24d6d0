"""Engine and session factory shared by every surface (CDS service, SMART app, sandbox, admin).

SQLite runs in WAL mode. Durability level (``PRAGMA synchronous``), chosen on purpose:

- The requirement is that every acknowledged write (jti, feedback, audit row, rate counter) survives
  a killed worker (``kill -9``, OOM, gunicorn timeout): tests/security/test_crash_safety.py.
- In WAL mode a commit appends the transaction to the ``-wal`` file with ``write()`` before
  ``COMMIT`` returns, under both ``FULL`` and ``NORMAL``. A killed *process* loses nothing that
  reached the operating system, so ``NORMAL`` meets the requirement. What ``FULL`` adds is an
  ``fsync`` of the WAL on every commit, which only matters if the *operating system* crashes or the
  power fails: then ``NORMAL`` may lose the last transactions before the latest checkpoint/fsync
  (the database is never corrupted either way; SQLite documents this trade-off for WAL).
- ``FULL`` costs one ``fsync`` per commit (the commit waits for the disk, longer on a busy one) and
  every hook call commits several times; that was the largest single cost of a call in the bench
  (bench/RESULTS.md, "What profiling found, and what was fixed").

So the default is ``NORMAL``; an operator whose SQLite host may lose power and who must keep the
last acknowledged writes even then sets ``PAINPA_SQLITE_SYNCHRONOUS=FULL`` (or, better for more
than one host, uses PostgreSQL). See docs/deploy.md §3. PostgreSQL needs nothing special. Sessions
are short: one unit of work per request.

How long a statement waits for SQLite's write lock (``PRAGMA busy_timeout``) is
``PAINPA_DB_BUSY_TIMEOUT_MS`` (default 5000). A hook call that waits that long answers 503 + Retry-After
(cds_service/http_errors.py), and it waits holding its worker's CPU slot (cds_service/cpu.py), so the
bound matters; imports commit in short batches so that the lock is never held for long
(cds_service/denials/store.py). On PostgreSQL the same bound, in whole seconds, is the connect
timeout: an unreachable server fails the call instead of hanging it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from cds_service.store import migrate


class Base(DeclarativeBase):
    pass


SQLITE_SYNCHRONOUS_LEVELS = ("FULL", "NORMAL")


def sqlite_synchronous(env: dict[str, str] | None = None) -> str:
    """``PAINPA_SQLITE_SYNCHRONOUS`` (FULL or NORMAL, default NORMAL); anything else is an error."""
    raw = (os.environ if env is None else env).get("PAINPA_SQLITE_SYNCHRONOUS", "NORMAL").strip().upper()
    if raw not in SQLITE_SYNCHRONOUS_LEVELS:
        raise ValueError(f"PAINPA_SQLITE_SYNCHRONOUS must be one of {', '.join(SQLITE_SYNCHRONOUS_LEVELS)}, got {raw!r}")
    return raw


DEFAULT_BUSY_TIMEOUT_MS = 5000     # Settings.db_busy_timeout_ms (PAINPA_DB_BUSY_TIMEOUT_MS) overrides it


def _sqlite_pragmas(dbapi_connection, _record, synchronous: str = "NORMAL",
                    busy_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL or NORMAL only, validated by sqlite_synchronous(): see the module docstring for why.
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def conflict_insert(dialect: str):
    """The ``insert`` of ``dialect`` that takes ``ON CONFLICT`` (an upsert in one statement, atomic
    across workers): PostgreSQL's, else SQLite's, the two databases painpa runs on."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


class Database:
    """One engine per process; ``session()`` (ORM) and ``begin()`` (Core) are transactional scopes."""

    def __init__(self, url: str, sqlite_synchronous_level: str | None = None,
                 busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        busy_ms = self.busy_timeout_ms = busy_timeout_ms
        # Statement parameters stay out of exception texts, hence out of every log line: they
        # hold jtis and hashed patient references.
        kwargs: dict = {"future": True, "hide_parameters": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_ms / 1000}
        else:
            # A call waits at most the busy timeout for a pooled connection too, then answers 503.
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5, pool_timeout=max(1.0, busy_ms / 1000))
            if url.startswith("postgresql") and "connect_timeout" not in make_url(url).query:
                kwargs["connect_args"] = {"connect_timeout": max(2, math.ceil(busy_ms / 1000))}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            level = sqlite_synchronous_level or sqlite_synchronous()
            if level not in SQLITE_SYNCHRONOUS_LEVELS:
                raise ValueError(f"sqlite synchronous level must be one of {SQLITE_SYNCHRONOUS_LEVELS}, got {level!r}")
            self.sqlite_synchronous = level
            event.listen(self.engine, "connect", lambda conn, rec: _sqlite_pragmas(conn, rec, level, busy_ms))
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

    def begin(self) -> AbstractContextManager[Connection]:
        """A Core connection inside one transaction (commit on success, rollback on error).

        For the statements every hook call runs (client lookup, ``jti`` insert, rate counter, audit
        row, denial evidence): there the ORM session's unit of work, identity map and object
        construction cost several times the SQL itself (bench/RESULTS.md, "Core SQL for the per-call
        statements"), and none of it is needed because those paths never load an object to change
        it. Use ``session()`` everywhere else.
        """
        return self.engine.begin()

    def create_all(self) -> None:
        """The product's schema as :func:`init_db` makes it (at head on a fresh database), then the
        tables declared outside the product's migrations that the database lacks: the sandbox's
        (``sbx_*``), which share the sandbox's database. Product tables are never made here."""
        migrate.prepare(self.engine)
        Base.metadata.create_all(self.engine, tables=[
            t for t in Base.metadata.sorted_tables if not migrate.is_product_table(t.name)])

    def dispose(self) -> None:
        self.engine.dispose()


def init_db(url: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Database:
    """Open the database with this release's schema (:func:`cds_service.store.migrate.prepare`): a
    fresh database gets it, created at head under a lock; a database at another revision, or with
    the tables of the release before migrations, stops here with
    :class:`~cds_service.store.migrate.SchemaNotReady` naming ``painpa db upgrade``."""
    db = Database(url, busy_timeout_ms=busy_timeout_ms)
    try:
        migrate.prepare(db.engine)
    except BaseException:
        db.dispose()
        raise
    return db
