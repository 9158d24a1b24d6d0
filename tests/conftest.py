"""Shared fixtures: an isolated instance folder per test, and a PostgreSQL server per session."""

from __future__ import annotations

import pytest

from cds_service.config import Settings
from tests.support.postgres import postgres_server


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(env={}, home=tmp_path / "instance", base_url="http://127.0.0.1:8080")


@pytest.fixture(scope="session")
def postgres_url():
    with postgres_server() as url:
        yield url
