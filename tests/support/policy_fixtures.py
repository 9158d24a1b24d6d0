"""Fixtures for the tests that evaluate orders against the shipped policy data (tests/policy,
tests/render), listed in ``pytest_plugins`` of tests/conftest.py: the policy data, loaded once."""

from __future__ import annotations

import pytest

from cds_service.policy.loader import load_policies


@pytest.fixture(scope="session")
def policies():
    return load_policies()
