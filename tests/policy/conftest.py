"""Shared fixtures for the policy tests: the shipped policy data (loaded once) and a fake SMART-link
callback standing in for the CDS layer's appContext handle."""

from __future__ import annotations

import json

import pytest

from cds_service.policy.loader import load_policies


@pytest.fixture(scope="session")
def policies():
    return load_policies()


def fake_smart_link(det, requirement):
    target = requirement.id if requirement is not None else "order"
    return {"label": "Fix in painpa", "url": "https://painpa.test/smart/launch", "type": "smart",
            "appContext": json.dumps({"ctx": f"{det.order_ref}#{target}"})}


@pytest.fixture
def smart_link():
    return fake_smart_link
