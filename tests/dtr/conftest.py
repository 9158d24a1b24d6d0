"""The SMART app's real-process stack (``painpa serve`` + test EHRs, tests/smart/conftest.py) for the
DTR app test."""

from tests.smart.conftest import stack  # noqa: F401  (a fixture, shared with tests/smart)
