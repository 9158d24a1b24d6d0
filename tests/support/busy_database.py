"""A busy database for the tests of its 503s (cds_service/http_errors.py answers 503 + Retry-After):
an app whose statements wait only :data:`BUSY_MS` for a lock, with the test EHR client registered,
and SQLite's write lock held by another connection, as an admin import's open transaction holds it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy import make_url

from cds_service import clients, state
from cds_service.app import create_app
from tests.support import jwt as tjwt
from tests.support.hook_requests import ISS

BUSY_MS = 150


def busy_app(settings, es_key, **overrides):
    """An app that gives up on a locked database after :data:`BUSY_MS`, with ``ISS`` registered."""
    app = create_app(replace(settings, db_busy_timeout_ms=BUSY_MS, **overrides))
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(es_key),
                       fhir_bases=["https://ehr.example.org/fhir"], default_state="TX", default_pos="24")
    return app


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
