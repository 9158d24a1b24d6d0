"""The real ``painpa sandbox`` process of tests/sandbox, for the browser test of the Schedule step."""

from tests.sandbox.conftest import sandbox_server  # noqa: F401 - a fixture, found by name
