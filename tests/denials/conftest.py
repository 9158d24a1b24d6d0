"""Fixtures of the denial tests: a database on SQLite and on PostgreSQL (same tests on both),
seeded from the CSV files under data/ through the real import path."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cds_service.admin.tables import AdminUser
from cds_service.denials.imports import import_csv
from cds_service.denials.tables import Decision, DenialReason, PayerMetric
from cds_service.store import init_db
from tests.support.denial_data import DATA, SALT


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    if request.param == "sqlite":
        database = init_db(f"sqlite:///{tmp_path / 'denials.db'}")
    else:
        url = request.getfixturevalue("postgres_url")
        database = init_db(url)
        with database.session() as s:  # one server for the session: start every test empty
            tables = ", ".join(t.__tablename__ for t in (DenialReason, Decision, PayerMetric, AdminUser))
            s.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database
    database.dispose()


@pytest.fixture
def seeded(db):
    denials = import_csv(db, "denials", (DATA / "denials.csv").read_bytes(), salt=SALT)
    metrics = import_csv(db, "metrics", (DATA / "metrics.csv").read_bytes(), salt=SALT)
    assert not denials.errors and not metrics.errors
    return db
