"""Fixtures for the CDS protocol tests: an app on a fresh SQLite database, a registered client with
ES384 and RS384 keys generated per run, a fixture FHIR server process, and hook request builders."""

from __future__ import annotations

import copy
import json
import os
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from cds_service import clients, state
from cds_service.app import create_app
from cds_service.auth import jwks as jwks_cache
from cds_service.fhir import gather as gather_mod
from tests.support import jwt as tjwt
from tests.support.procs import free_port, running

DATA = Path(__file__).parent / "data"
# Public example requests (shared/ sits beside the work tree, in CI as here); override with the env var.
EXTERNAL = Path(os.environ.get("PAINPA_EXTERNAL_FIXTURES")
                or Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "external")
ISS = "https://ehr.example.org/cds-client"
SELECT = "painpa-order-select"
SIGN = "painpa-order-sign"


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def record_resources() -> list[dict]:
    return [e["resource"] for e in load("record.json")["entry"]]


def find(rtype: str, rid: str) -> dict:
    return next(r for r in record_resources() if r["resourceType"] == rtype and r["id"] == rid)


def full_prefetch() -> dict:
    """Every discovery prefetch key, answered from the fixture record (as a capable EHR would)."""
    from cds_service.fhir.queries import QUERIES

    by_type: dict[str, list[dict]] = {}
    for r in record_resources():
        by_type.setdefault(r["resourceType"], []).append(r)
    out: dict = {}
    for q in QUERIES:
        if q.key == "patient":
            out["patient"] = find("Patient", "pt-esi-1")
        elif q.key == "user":
            out["user"] = find("PractitionerRole", "role-pain-1")
        else:
            hits = by_type.get(q.resource_type, [])
            out[q.key] = {"resourceType": "Bundle", "type": "searchset",
                          "entry": [{"resource": r} for r in hits]} if hits else None
    return out


def hook_body(hook: str = "order-sign", *, orders: list[dict] | None = None, selections: list[str] | None = None,
              prefetch: dict | None = None, fhir_server: str | None = None, token: str | None = None,
              extension: dict | None = None) -> dict:
    orders = orders if orders is not None else [load("orders.json")["esi"]]
    context: dict = {"userId": "PractitionerRole/role-pain-1", "patientId": "pt-esi-1",
                     "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                     "entry": [{"resource": copy.deepcopy(o)} for o in orders]}}
    if hook == "order-select":
        context["selections"] = selections or [f"{o['resourceType']}/{o['id']}" for o in orders[:1]]
    body: dict = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir_server:
        body["fhirServer"] = fhir_server
    if token:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 30,
                                     "scope": "patient/*.rs", "subject": "painpa"}
    if extension:
        body["extension"] = extension
    return body


@pytest.fixture(autouse=True)
def _fresh_caches():
    jwks_cache.clear_cache()
    gather_mod.clear_cache()
    yield


@pytest.fixture(scope="session")
def es_key():
    return tjwt.make_key("ES384")


@pytest.fixture(scope="session")
def rs_key():
    return tjwt.make_key("RS384")


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory):
    """The fixture FHIR server as its own process; page size 4 so that searches page."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(port),
           "--data", str(DATA / "record.json"), "--page-size", "4"]
    with running(cmd, ready_url=f"{base}/fhir/metadata"):
        yield FhirFixture(base)


class FhirFixture:
    def __init__(self, base: str) -> None:
        self.root = base
        self.base = f"{base}/fhir"

    def control(self, **modes) -> None:
        requests.post(f"{self.root}/_control", json=modes, timeout=5).raise_for_status()

    def log(self) -> list[dict]:
        return requests.get(f"{self.root}/_log", timeout=5).json()

    def reset(self) -> None:
        self.control()
        requests.delete(f"{self.root}/_log", timeout=5)


@pytest.fixture
def fhir(fhir_server):
    fhir_server.reset()
    yield fhir_server
    fhir_server.reset()


@pytest.fixture
def app(settings, es_key, rs_key, fhir_server):
    app = create_app(replace(settings, fhir_deadline_s=2.0, fhir_read_timeout_s=1.5))
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(es_key, rs_key),
                       fhir_bases=[fhir_server.base, "https://ehr.example.org/fhir"], tenant=None,
                       default_state="TX", default_pos="24")
    yield app
    state.of(app).db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Caller:
    """Signs a fresh JWT for each call, with ``aud`` the exact endpoint URL."""

    def __init__(self, app, key) -> None:
        self.app, self.key, self.http = app, key, app.test_client()
        self.base = state.of(app).settings.base_url

    def post(self, service: str, body, *, key=None, token: str | None = None, path_suffix: str = "", **claims):
        path = f"/cds-services/{service}{path_suffix}"
        aud = claims.pop("aud", self.base + path)
        iss = claims.pop("iss", ISS)
        jwt_ = token or tjwt.sign(key or self.key, iss, aud, **claims)
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.http.post(path, data=data, headers={**tjwt.bearer(jwt_), "Content-Type": "application/json"})

    def feedback(self, service: str, body, **kw):
        return self.post(service, body, path_suffix="/feedback", **kw)


@pytest.fixture
def caller(app, es_key):
    return Caller(app, es_key)


class JwksHost:
    """A loopback HTTP server (in a thread) that publishes a JWK Set and counts fetches."""

    def __init__(self) -> None:
        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request, Response

        self.keys: dict = {"keys": []}
        self.raw: bytes | None = None  # served instead of ``keys`` when set (hostile answers)
        self.hits: list[str] = []

        @Request.application
        def app(request):
            self.hits.append(request.path)
            if request.path == "/jwks.json":
                body = self.raw if self.raw is not None else json.dumps(self.keys)
                return Response(body, mimetype="application/json")
            return Response("not found", status=404)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"
        import threading

        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def jwks_host():
    host = JwksHost()
    yield host
    host.close()
