"""The app's shared state, typed: settings, database, coverage policies, the FHIR connection pools
and the wall clock. :func:`build` makes it from the settings (the app factory, cds_service/app.py,
and the ``painpa`` commands that need the database); a request reaches its app's through
:func:`current` (Flask keeps an extension's state in ``app.extensions``; painpa keeps one entry
there, of one type).

Nothing else reads ``app.extensions``: a view or a page that needs the database asks
``state.current().db``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app
from urllib3 import PoolManager

from cds_service.config import Settings
from cds_service.fhir.client import new_pool
from cds_service.policy.loader import PolicySet, load_policies
from cds_service.store.base import Database, init_db

_KEY = "painpa"


@dataclass(frozen=True)
class AppState:
    settings: Settings
    db: Database
    policies: PolicySet                 # validated at start-up: a broken policy file stops the app there
    fhir_pool: PoolManager              # connection pools of every FHIR read (cds_service.fhir.client.new_pool)
    clock: Callable[[], float] = time.time  # seconds since the epoch; the sign-in throttle's tests pass their own


def build(settings: Settings) -> AppState:
    """Open the instance (its folder, its database) and load the coverage policies, validated once:
    a broken policy file stops start-up here, naming file and field, and so does a database whose
    schema is not this release's (``SchemaNotReady``, a ``ConfigError`` naming ``painpa db upgrade``;
    a fresh database gets the schema: cds_service/store/migrate.py)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    return AppState(settings=settings,
                    db=init_db(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms),
                    policies=load_policies(), fhir_pool=new_pool())


def install(app: Flask, state: AppState) -> None:
    app.extensions[_KEY] = state


def of(app: Flask) -> AppState:
    return app.extensions[_KEY]


def current() -> AppState:
    """The state of the app handling the current request."""
    return of(current_app)
