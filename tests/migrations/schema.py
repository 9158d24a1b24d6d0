"""Schemas for the migration tests: the previous release's, loaded from its own DDL (previous_release/,
written by dump_previous_release.py), and a reflection of a schema precise enough to tell two of them
apart (types with their arguments, nullability, defaults, key, index and constraint names)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Connection

from cds_service.store.migrate import is_product_table

PREVIOUS_RELEASE = Path(__file__).with_name("previous_release")


def previous_release_ddl(dialect: str) -> list[str]:
    """The statements the previous release's ``create_all`` ran on ``dialect``, in its order."""
    text = "\n".join(line for line in (PREVIOUS_RELEASE / f"{dialect}.sql").read_text().splitlines()
                     if not line.startswith("--"))
    return [s.strip() for s in text.split(";\n") if s.strip()]


def load_previous_release(url: str, only: Callable[[str], bool] = lambda _table: True) -> None:
    """Create the previous release's tables (those whose name ``only`` accepts) as it did."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in previous_release_ddl(engine.dialect.name):
                table = statement.split(" ON ")[1].split()[0] if statement.startswith("CREATE INDEX") \
                    else statement.split()[2]
                if only(table):
                    conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def snapshot(conn: Connection) -> dict:
    """The product's tables as the database describes them: columns (name, type, nullability,
    default) in order, primary key, indexes, unique constraints and foreign keys, with their names."""
    found = inspect(conn)
    out = {}
    for table in sorted(t for t in found.get_table_names() if is_product_table(t)):
        pk = found.get_pk_constraint(table)
        out[table] = {
            "columns": [(c["name"], repr(c["type"]), c["nullable"], c.get("default")) for c in found.get_columns(table)],
            "pk": (pk.get("name"), tuple(pk["constrained_columns"])),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in found.get_indexes(table)),
            "uniques": sorted((u["name"] or "", tuple(u["column_names"])) for u in found.get_unique_constraints(table)),
            "foreign_keys": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]),
                                    f["options"].get("ondelete")) for f in found.get_foreign_keys(table)),
        }
    return out


def snapshot_of(url: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return snapshot(conn)
    finally:
        engine.dispose()
