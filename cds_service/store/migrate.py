"""The product's database schema, versioned with Alembic (Alembic docs, "Tutorial" and "Cookbook:
Sharing a Connection across one or more programmatic migration commands"): the revisions are
``migrations/versions/*.py`` beside this module, configured here in code (no alembic.ini), and every
migration runs on one connection, in one transaction that holds the migration lock.

What opening the database does (:func:`prepare`, called by ``init_db``: the app factory's start-up
and every ``painpa`` command that opens the database):

- the schema is at this release's head: nothing more (one query, no lock);
- otherwise it takes the migration lock, which makes it wait for a migration under way (another
  instance creating the schema, ``painpa db upgrade``), and looks again. At head now: done. Empty
  (no product table, no ``alembic_version``): it creates the schema at head, under the lock, so
  instances started at once on a fresh database all come up: one creates it, the others wait and
  then find head. Creating it means running the revisions (on SQLite, replaying the DDL they left
  in a scratch database), so a fresh database is exactly what an upgraded one is. Anything else (an older revision, the previous release's tables without
  ``alembic_version``, a revision this release does not know): :class:`SchemaNotReady`, naming
  ``painpa db upgrade``.

Tables are never added to a database that already has some: SQLAlchemy's ``create_all`` skips a
table that exists without looking at its columns, so it would start a release on a schema that is
not its own.

:func:`upgrade` is ``painpa db upgrade``. A database of the release before migrations (its tables,
no ``alembic_version``) is recognised first: every table it has must have the columns revision
:data:`FIRST` creates. It is then stamped :data:`FIRST`, or, when that release's commands created
only some of its tables (``painpa clients add`` before the first ``painpa serve`` made the ``cds_``
ones only), revision :data:`FIRST` creates the others (it creates its tables IF NOT EXISTS); then it
is upgraded like any other.

The lock: on PostgreSQL a transaction-level advisory lock (``pg_advisory_xact_lock``, released with
the transaction); on SQLite ``BEGIN EXCLUSIVE``, the database's own write lock (in WAL mode readers
go on reading the schema as it was). Both run DDL inside the transaction, so a migration that fails
leaves the schema and ``alembic_version`` as they were.

The sandbox's tables (``sbx_*``) sit in the sandbox's database beside the product's but are not the
product's: no revision creates them and the comparison with the models ignores them
(:func:`is_product_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine

from cds_service.config import ConfigError

SCRIPTS = Path(__file__).with_name("migrations")
FIRST = "0001"                   # the schema of the release before migrations, as its create_all made it
VERSION_TABLE = "alembic_version"
SANDBOX_PREFIX = "sbx_"          # the sandbox's own tables: created by the sandbox, never migrated
# Every painpa process that migrates takes this PostgreSQL advisory lock ("painpa" and 1, as a bigint).
LOCK_KEY = 0x7061696E70610001


class SchemaNotReady(ConfigError):
    """The database's schema is not this release's; the message says which it is and what to run."""


def is_product_table(name: str) -> bool:
    return not name.startswith(SANDBOX_PREFIX) and name != VERSION_TABLE


def product_metadata(metadata: MetaData) -> MetaData:
    """The product's tables of ``metadata`` (the declarative ``Base``'s once every surface is
    imported), without the sandbox's: what the revisions must create."""
    product = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        if is_product_table(table.name):
            table.to_metadata(product)
    return product


@dataclass(frozen=True)
class Status:
    """What a database holds: the revisions in ``alembic_version`` and the product's tables."""

    revisions: tuple[str, ...]
    tables: frozenset[str]
    head: str

    @property
    def fresh(self) -> bool:
        return not self.revisions and not self.tables

    @property
    def at_head(self) -> bool:
        return self.revisions == (self.head,)

    @property
    def unversioned(self) -> bool:
        """Tables and no revision: the release before migrations made them."""
        return not self.revisions and bool(self.tables)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Revisions this release has no script for (a later release's)."""
        return tuple(r for r in self.revisions if not _known(r))

    def describe(self) -> str:
        if self.fresh:
            return f"empty (no revision); painpa creates the schema at {self.head} when it opens it"
        if self.at_head:
            return f"{self.head} (head: this release's schema)"
        if self.unversioned:
            return ("no revision: tables of the release before schema migrations; "
                    "`painpa db upgrade` recognises them and upgrades")
        if self.unknown:
            return f"{', '.join(self.revisions)}: unknown to this release (a later release migrated it)"
        return f"{', '.join(self.revisions)}; this release's head is {self.head}: run `painpa db upgrade`"


def status(conn: Connection) -> Status:
    tables = set(inspect(conn).get_table_names())
    revisions: tuple[str, ...] = ()
    if VERSION_TABLE in tables:
        revisions = tuple(sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()))
    return Status(revisions, frozenset(t for t in tables if is_product_table(t)), head())


def head() -> str:
    return _scripts().get_current_head() or ""


def history() -> list[tuple[str, str]]:
    """(revision, first paragraph of its docstring), oldest first."""
    return [(s.revision, (s.doc or "").strip()) for s in reversed(list(_scripts().walk_revisions()))]


def prepare(engine: Engine) -> None:
    """At start-up: nothing if the schema is at head, the schema at head if the database is empty
    (under the lock), :class:`SchemaNotReady` otherwise (see the module docstring)."""
    with engine.connect() as conn:
        found = status(conn)
    if found.at_head:
        return
    # Wait for a migration that may be running (another instance creating the schema, or `painpa db
    # upgrade`), then look again: it may have brought the schema to head meanwhile.
    with _locked(engine) as conn:
        found = status(conn)
        if found.fresh:
            _create_at_head(conn)
            return
    if not found.at_head:
        raise SchemaNotReady(_advice(found, engine))


def upgrade(engine: Engine, revision: str = "head") -> tuple[Status, Status, str]:
    """``painpa db upgrade``: (status before, status after, what was done to a database of the release
    before migrations, or "")."""
    with _locked(engine) as conn:
        before = status(conn)
        if before.unknown:
            raise SchemaNotReady(_advice(before, engine))
        adopted = _adopt(conn, engine) if before.unversioned else ""
        _alembic(command.upgrade, conn, revision)
        return before, status(conn), adopted


def downgrade(engine: Engine, revision: str) -> tuple[Status, Status]:
    """``painpa db downgrade REV``: the schema rolled back to ``REV``, each revision's downgrade in turn."""
    with _locked(engine) as conn:
        before = status(conn)
        if not before.revisions:
            raise SchemaNotReady(f"the database ({_where(engine)}) has no schema revision to roll back from: "
                                 f"{before.describe()}")
        _alembic(command.downgrade, conn, revision)
        return before, status(conn)


def differences(conn: Connection, metadata: MetaData) -> list:
    """What the database's schema lacks or has more than the product's tables of ``metadata``, as
    Alembic's autogenerate sees it (``compare_metadata``); empty when the revisions match the models."""
    context = MigrationContext.configure(conn, opts={"include_name": _include_name, "compare_type": True})
    return compare_metadata(context, product_metadata(metadata))


def revision(metadata: MetaData, message: str, location: Path = SCRIPTS) -> Path | None:
    """Write the next revision from what the models (``metadata``) have that the revisions do not
    (Alembic's ``revision --autogenerate``), compared on a scratch SQLite database upgraded to head;
    None when there is nothing to write."""
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            _alembic(command.upgrade, conn, "head", location=location)
            if not differences(conn, metadata):
                return None
            current = ScriptDirectory.from_config(_config(location=location)).get_current_head() or "0"
            rev_id = f"{int(current) + 1:04d}" if current.isdigit() else None
            script = command.revision(_config(conn, product_metadata(metadata), location), message=message,
                                      autogenerate=True, rev_id=rev_id)
    finally:
        scratch.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def run_environment(context: EnvironmentContext) -> None:
    """The body of migrations/env.py: Alembic's context on the connection the caller holds (inside
    the transaction that holds the lock), with the models' metadata when autogenerating."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise CommandError("painpa runs its migrations itself, on a connection it holds: use `painpa db`")
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("metadata"),
        include_name=_include_name,
        compare_type=True,
        # ALTERs SQLite lacks become "move and copy" (Alembic docs, "Running Batch Migrations for
        # SQLite"); on PostgreSQL batch operations are plain ALTERs.
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _include_name(name: str | None, type_: str, _parent: dict) -> bool:
    return type_ != "table" or name is None or is_product_table(name)


def _config(connection: Connection | None = None, metadata: MetaData | None = None,
            location: Path = SCRIPTS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("path_separator", "os")  # Alembic warns when neither separator option is set
    config.attributes.update(connection=connection, metadata=metadata)
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def _alembic(fn: Callable, conn: Connection, revision: str, location: Path = SCRIPTS) -> None:
    fn(_config(conn, location=location), revision)


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock; committed when the block ends."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # The driver would open a transaction only at the first INSERT, and deferred: this takes
            # the write lock now, and the DDL that follows runs inside the transaction.
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
        elif engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _adopt(conn: Connection, engine: Engine) -> str:
    """Recognise the release before migrations by its tables and bring it to revision :data:`FIRST`."""
    expected = _tables_at(FIRST)
    present = {t: frozenset(c["name"] for c in inspect(conn).get_columns(t))
               for t in inspect(conn).get_table_names() if is_product_table(t)}
    problems = [f"table {t} is not one of revision {FIRST}'s" for t in sorted(present.keys() - expected.keys())]
    for t in sorted(present.keys() & expected.keys()):
        if present[t] != expected[t]:
            missing, extra = sorted(expected[t] - present[t]), sorted(present[t] - expected[t])
            problems.append(f"table {t} " + " and ".join(
                part for part in (missing and f"lacks {', '.join(missing)}", extra and f"has {', '.join(extra)} more")
                if part))
    if problems:
        raise SchemaNotReady(
            f"the database ({_where(engine)}) has tables but no {VERSION_TABLE} table, and they are not "
            f"those of the release before schema migrations (revision {FIRST}): {'; '.join(problems)}. "
            f"Nothing was changed. Bring those tables to revision {FIRST} by hand (see "
            f"cds_service/store/migrations/versions/{FIRST}_*.py), or restore a backup, then run "
            f"`painpa db upgrade` again")
    if expected.keys() <= present.keys():
        _alembic(command.stamp, conn, FIRST)
        return f"recognised the schema of the release before migrations: stamped {FIRST}"
    _alembic(command.upgrade, conn, FIRST)
    return (f"recognised the schema of the release before migrations (some of its tables): created "
            f"{', '.join(sorted(expected.keys() - present.keys()))} and stamped {FIRST}")


def _create_at_head(conn: Connection) -> None:
    """The schema at head on an empty database: the revisions, run in turn. On SQLite, the DDL they
    left in a scratch database (made once per process), replayed: the same statements, without
    Alembic building and compiling each operation again for every new database, which multiplied the
    time the app factory takes on a fresh database (and the test suite makes a thousand of those)."""
    if conn.dialect.name != "sqlite":
        command.upgrade(_config(conn), "head")
        return
    statements, revisions = _sqlite_head()
    for statement in statements:
        conn.exec_driver_sql(statement)
    for rev in revisions:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:rev)"), {"rev": rev})


@cache
def _sqlite_head() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The CREATE statements of the schema at head on SQLite (tables, then indexes, as SQLite keeps
    them in ``sqlite_master``), and the revisions to record."""
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            command.upgrade(_config(conn), "head")
            statements = tuple(conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                "ORDER BY type = 'index', rowid").scalars())
            return statements, tuple(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        scratch.dispose()


@cache
def _tables_at(revision: str) -> dict[str, frozenset[str]]:
    """Table and column names of the schema at ``revision``, from a scratch SQLite database."""
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            _alembic(command.upgrade, conn, revision)
            found = inspect(conn)
            return {t: frozenset(c["name"] for c in found.get_columns(t))
                    for t in found.get_table_names() if is_product_table(t)}
    finally:
        scratch.dispose()


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _advice(found: Status, engine: Engine) -> str:
    where = _where(engine)
    if found.unknown:
        return (f"the database ({where}) has schema revision {', '.join(found.revisions)}, which this release "
                f"does not know: a later release migrated it. Run that release, or roll the schema back "
                f"with that release's `painpa db downgrade {found.head}` before starting this one")
    if found.unversioned:
        what = "holds the tables of the release before schema migrations (no alembic_version table)"
    else:
        what = f"has schema revision {', '.join(found.revisions)} and this release needs {found.head}"
    return (f"the database ({where}) {what}. Stop every painpa instance, back up the database, run "
            f"`painpa db upgrade` with this release, then start it (docs/deploy.md)")
