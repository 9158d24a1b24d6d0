"""Fixtures for the speed-and-scale tests: a throw-away redis-server on a free loopback
port (Debian's package; .ci/run installs it), started by the test session that needs it."""

from __future__ import annotations

import pytest

from tests.support.redis_server import redis_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
