"""Fixtures of the migration tests: fresh databases on SQLite and on PostgreSQL, a new database on the
session's server for each, so that no test sees another's schema."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, make_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_database(request, tmp_path) -> Iterator[Callable[[], str]]:
    """new_database() -> the URL of an empty database of the test's kind (a new one each call)."""
    made: list[str] = []
    if request.param == "sqlite":
        def make() -> str:
            made.append(f"sqlite:///{tmp_path / f'painpa-{len(made)}.db'}")
            return made[-1]
        yield make
        return
    server = request.getfixturevalue("postgres_url")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")

    def make() -> str:
        name = f"mig_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return make_url(server).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
