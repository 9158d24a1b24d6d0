"""Every public example hook request in the shared fixtures gets 200 or a specific 4xx with an
OperationOutcome, never a 5xx (CRD hooks.md error rules). Requests are sent as they are,
with a valid JWT; their fhirServer bases are registered so that validation goes past the SSRF gate,
and outbound HTTP is replaced by a transport that refuses (no network beyond loopback in tests)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from urllib3 import PoolManager
from urllib3.exceptions import NewConnectionError

from cds_service import clients, state
from tests.support.hook_requests import EXTERNAL, ISS, SELECT, SIGN
from tests.support.response_checks import check_coverage_information, check_shape

FILES = sorted(p for p in EXTERNAL.rglob("*.json"))


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


HOOK_FILES = [p for p in FILES if isinstance(_json(p), dict) and "hook" in _json(p)]
CONTEXT_FILES = [p for p in FILES if isinstance(_json(p), dict) and "hook" not in _json(p)
                 and isinstance(_json(p).get("context"), dict)]


class Offline(PoolManager):
    def urlopen(self, method, url, redirect=True, **kw):
        raise NewConnectionError(None, "tests do not leave loopback")


@pytest.fixture
def offline_app(app):
    state.install(app, replace(state.of(app), fhir_pool=Offline()))
    bases = {_json(p).get("fhirServer") for p in HOOK_FILES} - {None}
    clients.add_client(state.of(app).db, iss=ISS, jwks=_jwks(app), fhir_bases=sorted(bases))
    return app


def _jwks(app):
    from tests.support import jwt as tjwt

    return tjwt.jwks(app.extensions["test.key"])


@pytest.fixture
def app_with_key(app, es_key):
    app.extensions["test.key"] = es_key
    return app


def _service_for(hook: str | None) -> str:
    return SELECT if hook == "order-select" else SIGN


def _check(resp, body):
    assert resp.status_code < 500, resp.get_data(as_text=True)
    if resp.status_code == 200:
        out = resp.get_json()
        check_shape(out, body)
        if body.get("hook") in ("order-sign", "order-select") and "draftOrders" in body.get("context", {}):
            check_coverage_information(out, body, in_scope=set())
    else:
        assert 400 <= resp.status_code < 500
        assert resp.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("path", HOOK_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hook_request_files_get_200_or_specific_4xx(app_with_key, offline_app, caller, path):
    body = _json(path)
    resp = caller.post(_service_for(body["hook"]), body)
    _check(resp, body)


@pytest.mark.parametrize("path", HOOK_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hook_request_files_from_a_client_without_those_bases(app_with_key, caller, path):
    body = _json(path)
    resp = caller.post(_service_for(body["hook"]), body)
    _check(resp, body)


@pytest.mark.parametrize("path", CONTEXT_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_context_examples_wrapped_as_requests(app_with_key, offline_app, caller, path):
    context = _json(path)["context"]
    hook = "order-select" if "selections" in context else "order-sign"
    body = {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": context}
    _check(caller.post(_service_for(hook), body), body)
    raw = caller.post(_service_for(hook), _json(path))  # as stored: no hook → 400
    assert raw.status_code == 400


def test_there_are_fixtures():
    assert len(HOOK_FILES) >= 10 and CONTEXT_FILES
