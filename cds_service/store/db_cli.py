"""``painpa db upgrade | downgrade | current | revision``: the database schema's upgrade and rollback
(Alembic, through :mod:`cds_service.store.migrate`; the procedure is in docs/deploy.md).

    painpa db current                  the database's revision, and this release's
    painpa db upgrade [--revision REV] migrate to this release's schema (or to REV); recognises a
                                       database of the release before migrations
    painpa db downgrade REV            roll the schema back to REV, before installing an earlier release
    painpa db revision -m MESSAGE      (developers) write the next revision from the models' changes

Upgrade and downgrade with every painpa instance stopped: a running release must not write to a
schema that is not its own. A migration holds the migration lock (on SQLite, the write lock) until
it ends; an instance started meanwhile waits for it, then checks the schema.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from alembic.util import CommandError
from sqlalchemy import MetaData
from sqlalchemy.exc import OperationalError

from cds_service.config import ConfigError, Settings
from cds_service.store import migrate
from cds_service.store.base import Database


def current(args: argparse.Namespace) -> int:
    with _database("current") as db, db.engine.connect() as conn:
        found = migrate.status(conn)
    print(f"database  {db.engine.url.render_as_string(hide_password=True)}")
    print(f"revision  {found.describe()}")
    print("this release's revisions, oldest first:")
    for rev, doc in migrate.history():
        print(f"  {rev}  {doc.splitlines()[0] if doc else ''}")
    return 0


def upgrade(args: argparse.Namespace) -> int:
    with _database("upgrade") as db:
        before, after, adopted = migrate.upgrade(db.engine, args.revision)
    if adopted:
        print(adopted)
    was, now = _revisions(before), _revisions(after)
    print(f"upgraded from {was} to {now}" if was != now else f"already at {now}; nothing to do")
    return 0


def downgrade(args: argparse.Namespace) -> int:
    if args.revision == "base":
        print("painpa db downgrade: base would drop every table; to start over, drop the database instead",
              file=sys.stderr)
        return 2
    with _database("downgrade") as db:
        before, after = migrate.downgrade(db.engine, args.revision)
    was, now = _revisions(before), _revisions(after)
    print(f"rolled back from {was} to {now}" if was != now else f"already at {now}; nothing to do")
    return 0


def revision(args: argparse.Namespace, metadata: MetaData) -> int:
    """Write the next revision from the models (``metadata``: the caller imported every surface)."""
    written = migrate.revision(metadata, args.message)
    if written is None:
        print(f"the models match revision {migrate.head()}: nothing to write")
        return 0
    print(f"wrote {written}\nreview it (cds_service/store/migrations/README.md), then run "
          f"`ruff check --fix {written}` and tests/migrations")
    return 0


def _revisions(found: migrate.Status) -> str:
    return ", ".join(found.revisions) or "no revision"


@contextmanager
def _database(action: str) -> Iterator[Database]:
    """The instance's database (``DATABASE_URL``, else PAINPA_HOME/painpa.db), opened without touching
    its schema. What stops the command is printed with what to do, and exits with status 2."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        _exit(action, str(exc))
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    try:
        yield db
    except (migrate.SchemaNotReady, CommandError) as exc:  # CommandError: an unknown revision, say
        _exit(action, str(exc))
    except OperationalError as exc:
        _exit(action, f"the database refused: {exc.orig}. If it is busy, stop every painpa instance and "
                      f"run this again")
    finally:
        db.dispose()


def _exit(action: str, message: str) -> NoReturn:
    print(f"painpa db {action}: {message}", file=sys.stderr)
    raise SystemExit(2)
