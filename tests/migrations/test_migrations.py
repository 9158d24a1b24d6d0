"""The schema under Alembic (cds_service/store/migrate.py): revision 0001 is the previous release's
schema exactly, the revisions end where the models are (drift fails here), a database of the previous
release is recognised and upgraded, a rollback gives that schema back, start-up creates the schema
only on an empty database and refuses any other revision, and the production commands never create
the sandbox's tables. On SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect, text

import cds_service.app  # noqa: F401 - every surface, hence every product table, in Base.metadata
from cds_service import cli
from cds_service.store import Base, init_db, migrate
from cds_service.store.base import Database
from tests.migrations import dump_previous_release
from tests.migrations.schema import PREVIOUS_RELEASE, load_previous_release, snapshot_of
from tests.support.procs import ROOT, VENV_BIN, free_port

PREVIOUS_COMMIT = "21da843"   # the release before migrations
PREVIOUS_TABLES = {"cds_app_links", "cds_audit", "cds_clients", "cds_feedback", "cds_seen_jti", "ins_admin_session",
                   "ins_admin_user", "ins_decision", "ins_denial_reason", "ins_payer_metric", "sec_rate_counters",
                   "smart_pending_launch", "smart_session"}


def _engine(url: str):
    return create_engine(url)


def _status(url: str) -> migrate.Status:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return migrate.status(conn)
    finally:
        engine.dispose()


def _differences(url: str) -> list:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return migrate.differences(conn, Base.metadata)
    finally:
        engine.dispose()


def _painpa_db(monkeypatch, tmp_path: Path, url: str, *args: str) -> int:
    monkeypatch.setenv("PAINPA_HOME", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        return cli.main(["db", *args])
    except SystemExit as exc:
        return int(exc.code or 0)


def _upgrade(url: str, revision: str = "head") -> None:
    engine = _engine(url)
    try:
        migrate.upgrade(engine, revision)
    finally:
        engine.dispose()


# --- the revisions ------------------------------------------------------------------------------


def test_revision_0001_is_the_previous_release_schema(new_database):
    """Table by table, column by column (types, nullability, defaults), with the same key, index and
    constraint names as the previous release's own create_all made (previous_release/*.sql)."""
    previous, migrated = new_database(), new_database()
    load_previous_release(previous)
    _upgrade(migrated, "0001")
    assert set(snapshot_of(previous)) == PREVIOUS_TABLES
    assert snapshot_of(migrated) == snapshot_of(previous)
    assert _status(migrated).revisions == ("0001",)


def test_the_previous_release_ddl_is_what_that_release_emits(tmp_path):
    """previous_release/*.sql, written again from the commit itself when the history holds it."""
    found = subprocess.run(["git", "cat-file", "-e", f"{PREVIOUS_COMMIT}^{{commit}}"], cwd=ROOT, check=False,
                           capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"this checkout's history lacks {PREVIOUS_COMMIT}")
    checkout, out = tmp_path / "checkout", tmp_path / "ddl"
    checkout.mkdir()
    out.mkdir()
    archive = subprocess.run(["git", "archive", PREVIOUS_COMMIT, "cds_service", "smart_app", "fhir_profiles"],
                             cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive, check=True)
    dump_previous_release.main(str(checkout), PREVIOUS_COMMIT, out)
    for dialect in ("sqlite", "postgresql"):
        # A table's indexes come out of a set, in an order that changes from one process to the next.
        assert sorted((out / f"{dialect}.sql").read_text().split(";\n")) == \
            sorted((PREVIOUS_RELEASE / f"{dialect}.sql").read_text().split(";\n"))


def test_the_revisions_end_where_the_models_are(new_database):
    """Drift check: a change to a table module without a revision fails here. Add the revision with
    ``painpa db revision -m ...`` (cds_service/store/migrations/README.md)."""
    url = new_database()
    _upgrade(url)
    assert _status(url).at_head
    assert _differences(url) == []


def test_start_up_on_an_empty_database_makes_what_the_revisions_make(new_database):
    """On SQLite, start-up replays the DDL the revisions left in a scratch database: same result."""
    by_revisions, at_start_up = new_database(), new_database()
    _upgrade(by_revisions)
    init_db(at_start_up).dispose()
    assert _status(at_start_up).at_head
    assert snapshot_of(at_start_up) == snapshot_of(by_revisions)
    assert _differences(at_start_up) == []


def test_the_migrations_know_no_sandbox_table():
    import sandbox.tables  # noqa: F401 - the sandbox's tables declared in this process, as in the sandbox

    assert any(t.startswith("sbx_") for t in Base.metadata.tables)
    assert not [t for t in migrate.product_metadata(Base.metadata).tables if t.startswith("sbx_")]
    assert not [t for t in migrate._tables_at(migrate.head()) if t.startswith("sbx_")]


def _copy_of_the_revisions(tmp_path: Path) -> Path:
    location = tmp_path / "migrations"
    shutil.copytree(migrate.SCRIPTS, location, ignore=shutil.ignore_patterns("__pycache__"))
    return location


def test_painpa_db_revision_writes_nothing_while_the_models_match(monkeypatch, tmp_path, capsys):
    # Into a copy: were the models to drift, this test must not write into the package.
    location = _copy_of_the_revisions(tmp_path)
    monkeypatch.setattr(migrate, "revision", partial(migrate.revision, location=location))
    assert cli.main(["db", "revision", "-m", "nothing"]) == 0
    assert "nothing to write" in capsys.readouterr().out
    assert sorted(p.name for p in (location / "versions").glob("*.py")) == \
        sorted(p.name for p in (migrate.SCRIPTS / "versions").glob("*.py"))


def test_revision_writes_the_next_revision_from_a_model_change(tmp_path):
    location = _copy_of_the_revisions(tmp_path)
    models = MetaData()
    for table in migrate.product_metadata(Base.metadata).sorted_tables:
        table.to_metadata(models)
    Table("cds_new_things", models, Column("id", Integer, primary_key=True), Column("name", String(32)))
    written = migrate.revision(models, "new things", location=location)
    assert written is not None and written.parent == location / "versions"
    head = int(migrate.head())
    assert written.name.startswith(f"{head + 1:04d}_new_things")
    source = written.read_text()
    assert "op.create_table('cds_new_things'" in source and f"down_revision = '{head:04d}'" in source
    lint = subprocess.run([str(VENV_BIN / "ruff"), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                           str(written)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout


# --- a database of the previous release ---------------------------------------------------------


def _previous_release_rows(url: str) -> None:
    engine = _engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO cds_clients (iss, fhir_bases, created) VALUES (:iss, :bases, :at)"),
                     {"iss": "https://ehr.example/cds", "bases": '["https://ehr.example/fhir"]', "at": datetime.now(UTC)})
        conn.execute(text("INSERT INTO cds_audit (at, service_id, order_codes, determinations, card_uuids, latency_ms, "
                          "status, incomplete) VALUES (:at, 'painpa-order-sign', '[]', '[]', '[]', 12, 200, '[]')"),
                     {"at": datetime.now(UTC)})
    engine.dispose()


def test_painpa_db_upgrade_recognises_the_previous_release_and_upgrades_it(new_database, monkeypatch, tmp_path,
                                                                           capsys):
    url = new_database()
    load_previous_release(url)
    _previous_release_rows(url)
    assert _status(url).unversioned
    assert _painpa_db(monkeypatch, tmp_path, url, "upgrade") == 0
    out = capsys.readouterr().out
    assert "recognised the schema of the release before migrations: stamped 0001" in out
    assert f"upgraded from no revision to {migrate.head()}" in out
    assert _status(url).at_head and _differences(url) == []
    engine = _engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT iss FROM cds_clients")).scalars().all() == ["https://ehr.example/cds"]
        assert conn.execute(text("SELECT latency_ms, request_id FROM cds_audit")).all() == [(12, None)]
    engine.dispose()
    init_db(url).dispose()   # and start-up accepts it


def test_a_previous_release_database_with_some_of_its_tables_gets_the_others(new_database, monkeypatch, tmp_path,
                                                                            capsys):
    """``painpa clients add`` before the first ``painpa serve`` made only the cds_ tables."""
    url = new_database()
    load_previous_release(url, only=lambda table: table.startswith("cds_"))
    assert _painpa_db(monkeypatch, tmp_path, url, "upgrade") == 0
    assert "created ins_admin_session" in capsys.readouterr().out
    assert _status(url).at_head and _differences(url) == []


def test_tables_that_are_not_the_previous_release_are_left_alone(new_database, monkeypatch, tmp_path, capsys):
    url = new_database()
    load_previous_release(url)
    engine = _engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE cds_feedback DROP COLUMN user_comment")
        conn.exec_driver_sql("CREATE TABLE local_notes (id INTEGER PRIMARY KEY)")
    engine.dispose()
    before = snapshot_of(url)
    assert _painpa_db(monkeypatch, tmp_path, url, "upgrade") == 2
    err = capsys.readouterr().err
    assert "table cds_feedback lacks user_comment" in err and "table local_notes is not one of revision 0001's" in err
    assert "Nothing was changed" in err
    assert snapshot_of(url) == before and not _status(url).revisions


# --- rollback -----------------------------------------------------------------------------------


def test_downgrade_gives_the_previous_release_schema_back_and_upgrade_returns(new_database, monkeypatch, tmp_path,
                                                                             capsys):
    url, previous = new_database(), new_database()
    init_db(url).dispose()
    _previous_release_rows(url)
    assert _painpa_db(monkeypatch, tmp_path, url, "downgrade", "0001") == 0
    assert f"rolled back from {migrate.head()} to 0001" in capsys.readouterr().out
    load_previous_release(previous)
    assert snapshot_of(url) == snapshot_of(previous)
    assert _status(url).revisions == ("0001",)
    assert _painpa_db(monkeypatch, tmp_path, url, "upgrade") == 0
    assert _status(url).at_head and _differences(url) == []
    engine = _engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cds_audit")).scalar() == 1
    engine.dispose()


def test_downgrade_to_base_is_refused(monkeypatch, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'painpa.db'}"
    init_db(url).dispose()
    assert _painpa_db(monkeypatch, tmp_path, url, "downgrade", "base") == 2
    assert "drop every table" in capsys.readouterr().err
    assert _status(url).at_head


def test_an_unknown_revision_is_a_clear_error(monkeypatch, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'painpa.db'}"
    init_db(url).dispose()
    assert _painpa_db(monkeypatch, tmp_path, url, "downgrade", "07") == 2
    assert "07" in capsys.readouterr().err
    assert _status(url).at_head


def test_painpa_db_current(monkeypatch, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'painpa.db'}"
    assert _painpa_db(monkeypatch, tmp_path, url, "current") == 0
    assert "revision  empty (no revision)" in capsys.readouterr().out
    _upgrade(url, "0001")
    assert _painpa_db(monkeypatch, tmp_path, url, "current") == 0
    out = capsys.readouterr().out
    assert f"revision  0001; this release's head is {migrate.head()}: run `painpa db upgrade`" in out
    assert "  0001  The schema of the release before migrations" in out


# --- start-up -----------------------------------------------------------------------------------


def test_start_up_refuses_an_older_revision_and_changes_nothing(new_database):
    url = new_database()
    _upgrade(url, "0001")
    before = snapshot_of(url)
    with pytest.raises(migrate.SchemaNotReady) as refused:
        init_db(url)
    message = str(refused.value)
    assert f"has schema revision 0001 and this release needs {migrate.head()}" in message
    assert "run `painpa db upgrade`" in message
    assert snapshot_of(url) == before and _status(url).revisions == ("0001",)


def test_start_up_waits_for_an_upgrade_under_way_and_then_starts(new_database):
    url = new_database()
    _upgrade(url, "0001")
    upgrader = Database(url)   # on SQLite it puts the database in WAL mode, as painpa runs it
    opened: dict = {}

    def start_up() -> None:
        try:
            opened["db"] = init_db(url)
        except Exception as exc:  # reported by the assertions below
            opened["error"] = exc

    starting = threading.Thread(target=start_up)
    try:
        with migrate._locked(upgrader.engine) as conn:   # what `painpa db upgrade` holds
            starting.start()
            time.sleep(1.0)
            assert starting.is_alive(), opened   # start-up saw 0001 and waits for the lock
            command.upgrade(migrate._config(conn), "head")
        starting.join(30)
        assert "db" in opened, opened
        opened["db"].dispose()
    finally:
        upgrader.dispose()
    assert _status(url).at_head


def test_start_up_refuses_the_previous_release_until_it_is_upgraded(new_database):
    url = new_database()
    load_previous_release(url)
    before = snapshot_of(url)
    with pytest.raises(migrate.SchemaNotReady, match="release before schema migrations.*`painpa db upgrade`"):
        init_db(url)
    assert snapshot_of(url) == before and _status(url).unversioned


def test_start_up_refuses_a_revision_from_a_later_release(tmp_path):
    url = f"sqlite:///{tmp_path / 'painpa.db'}"
    init_db(url).dispose()
    with closing(sqlite3.connect(tmp_path / "painpa.db")) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    with pytest.raises(migrate.SchemaNotReady, match="0999, which this release does not know"):
        init_db(url)


def test_the_app_factory_refuses_an_older_revision(tmp_path):
    from cds_service.app import create_app
    from cds_service.config import Settings

    settings = Settings.from_env(env={}, home=tmp_path / "instance", base_url="http://127.0.0.1:8080")
    settings.home.mkdir(parents=True)
    _upgrade(settings.database_url, "0001")
    with pytest.raises(migrate.SchemaNotReady, match="painpa db upgrade"):
        create_app(settings)


def _run_painpa(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "painpa"), *args], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)


def test_painpa_commands_refuse_an_older_revision_with_the_command_to_run(tmp_path):
    home = tmp_path / "instance"
    home.mkdir()
    url = f"sqlite:///{home / 'painpa.db'}"
    _upgrade(url, "0001")
    env = {**_clean_env(), "PAINPA_HOME": str(home)}
    for args in (("serve", "--port", str(free_port())), ("clients", "list"), ("admin", "remap"), ("audit", "purge")):
        done = _run_painpa(env, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "run `painpa db upgrade`" in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert _status(url).revisions == ("0001",)


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PAINPA_", "DATABASE_URL"))}


# --- the sandbox's tables -----------------------------------------------------------------------


def test_production_commands_never_create_the_sandbox_tables(tmp_path):
    import sandbox.tables  # noqa: F401 - declared in this process: start-up must still not create them

    url = f"sqlite:///{tmp_path / 'painpa.db'}"
    init_db(url).dispose()
    assert not [t for t in _tables(url) if t.startswith("sbx_")]
    home = tmp_path / "cli"
    done = _run_painpa({**_clean_env(), "PAINPA_HOME": str(home)}, "clients", "list")
    assert done.returncode == 0, done.stderr
    tables = _tables(f"sqlite:///{home / 'painpa.db'}")
    assert "cds_clients" in tables and not [t for t in tables if t.startswith("sbx_")]


def test_building_the_parser_imports_no_sandbox_table_module():
    probe = ("import sys; from cds_service.cli import build_parser; build_parser(); "
             "print(sorted(m for m in sys.modules if m.startswith('sandbox.') and m != 'sandbox.cli'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_the_sandbox_keeps_its_tables_beside_the_product_schema(tmp_path):
    from cds_service import state
    from cds_service.config import Settings
    from sandbox.app import create_sandbox_app

    settings = Settings.from_env(env={}, home=tmp_path / "instance", base_url="http://127.0.0.1:8080", sandbox=True)
    app = create_sandbox_app(settings)
    state.of(app).db.dispose()
    tables = _tables(settings.database_url)
    assert {"sbx_fhir_resource", "sbx_token"} <= tables and _status(settings.database_url).at_head
    assert _differences(settings.database_url) == []   # the sandbox's tables are not drift


def test_the_sandbox_upgrades_its_own_earlier_database(tmp_path):
    import sandbox.tables  # noqa: F401 - its tables, created below as an earlier sandbox did
    from cds_service.config import Settings
    from sandbox.cli import _upgrade_schema

    settings = Settings.from_env(env={}, home=tmp_path / "instance", base_url="http://127.0.0.1:8080", sandbox=True)
    settings.home.mkdir(parents=True)
    load_previous_release(settings.database_url)
    engine = _engine(settings.database_url)
    Base.metadata.create_all(engine, tables=[t for t in Base.metadata.sorted_tables if t.name.startswith("sbx_")])
    engine.dispose()
    assert _upgrade_schema(settings) == f"upgraded the database schema from the release before migrations to " \
                                        f"{migrate.head()}"
    assert _status(settings.database_url).at_head and _upgrade_schema(settings) is None


def _tables(url: str) -> set[str]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_database_create_all_makes_no_product_table(tmp_path):
    """``Database.create_all`` (the sandbox's) makes the product's schema only through the revisions."""
    url = f"sqlite:///{tmp_path / 'painpa.db'}"
    _upgrade(url, "0001")
    db = Database(url)
    try:
        with pytest.raises(migrate.SchemaNotReady):
            db.create_all()
    finally:
        db.dispose()
    assert "smart_keys" not in _tables(url)
    with closing(sqlite3.connect(tmp_path / "painpa.db")) as conn, conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'sbx_%'").fetchone() == (0,)
