"""One real ``painpa sandbox`` process for the clinic-readiness browser tests (tests/sandbox's fixture)."""

from tests.sandbox.conftest import sandbox_server  # noqa: F401 - the session fixture, shared
