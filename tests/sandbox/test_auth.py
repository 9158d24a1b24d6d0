"""SMART App Launch 2.2 flows of the sandbox authorization server: discovery (§5.1), EHR launch with
context (§5.2, §5.4), standalone launch with the patient picker, PKCE S256 required (§"PKCE"),
refresh with rotation, client auth by client_secret_basic and private_key_jwt (RFC 7523)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from cds_service import state
from sandbox.auth import launch
from sandbox.keys import public_jwks
from sandbox.setup import upsert_client
from tests.sandbox.helpers import assertion, new_key, pkce, query

BASE = "http://127.0.0.1:8080"
REDIRECT = "http://app.test/callback"
SECRET = "s3cret-for-tests"


@pytest.fixture
def clients(app):
    db = state.of(app).db
    key = new_key()
    upsert_client(db, "basic-app", name="Basic", auth_method="client_secret_basic", redirect_uris=[REDIRECT],
                  secret_sha256=hashlib.sha256(SECRET.encode()).hexdigest(), scope="")
    upsert_client(db, "jwt-app", name="JWT", auth_method="private_key_jwt", redirect_uris=[REDIRECT],
                  jwks=public_jwks(key), jwks_uri=None, scope="")
    return key


def _basic() -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"basic-app:{SECRET}".encode()).decode()}


def _authorize(client, *, client_id="basic-app", scope="launch patient/*.rs offline_access openid fhirUser",
               launch_id=None, challenge=None, method="S256", aud=f"{BASE}/fhir", extra=None):
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
              "state": "st-123", "aud": aud}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method=method)
    if launch_id:
        params["launch"] = launch_id
    params.update(extra or {})
    return client.get("/auth/authorize", query_string=params)


def _code(client, app, verifier_challenge, context=None, **kw):
    launch_id = launch.create(state.of(app).db, context or {"patient": "pat-1"})
    resp = _authorize(client, launch_id=launch_id, challenge=verifier_challenge[1], **kw)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    q = query(resp.headers["Location"])
    assert q["state"] == "st-123"
    return q["code"]


def test_smart_configuration(client):
    conf = client.get("/fhir/.well-known/smart-configuration").get_json()
    assert conf["code_challenge_methods_supported"] == ["S256"]
    assert conf["authorization_endpoint"] == f"{BASE}/auth/authorize"
    assert conf["token_endpoint"] == f"{BASE}/auth/token" and conf["jwks_uri"] == f"{BASE}/auth/jwks.json"
    assert {"launch-ehr", "context-ehr-patient", "client-confidential-asymmetric", "permission-v2"} <= set(conf["capabilities"])
    assert "private_key_jwt" in conf["token_endpoint_auth_methods_supported"]
    assert client.get("/auth/jwks.json").get_json()["keys"][0]["kty"] == "EC"


def test_ehr_launch_returns_the_launch_context_with_the_token(client, app, clients):
    pair = pkce()
    context = {"patient": "pat-1", "encounter": "enc-1", "appContext": '{"ctx":"h1"}',
               "fhirContext": [{"reference": "ServiceRequest/sr-1"}], "need_patient_banner": False,
               "smart_style_url": f"{BASE}/ehr/static/smart-style.json"}
    code = _code(client, app, pair, context)
    resp = client.post("/auth/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                            "code_verifier": pair[0]}, headers=_basic())
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Pragma"] == "no-cache"
    tok = resp.get_json()
    for key, value in context.items():
        assert tok[key] == value
    assert tok["token_type"] == "Bearer" and tok["refresh_token"] and tok["id_token"]
    assert "patient/*.rs" in tok["scope"].split()
    fhir = client.get("/fhir/Patient", headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert fhir.status_code == 200
    # the code is single use
    again = client.post("/auth/token", data={"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": REDIRECT, "code_verifier": pair[0]}, headers=_basic())
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_pkce_is_required_and_plain_is_refused(client, app, clients):
    launch_id = launch.create(state.of(app).db, {"patient": "pat-1"})
    for kw in ({}, {"challenge": "a" * 43, "method": "plain"}):
        resp = _authorize(client, launch_id=launch_id, **kw)
        assert resp.status_code == 302
        q = query(resp.headers["Location"])
        assert q["error"] == "invalid_request" and "code" not in q


def test_a_wrong_code_verifier_is_refused(client, app, clients):
    pair = pkce()
    code = _code(client, app, pair)
    wrong = pkce()[0]
    resp = client.post("/auth/token", data={"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": REDIRECT, "code_verifier": wrong}, headers=_basic())
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    missing = client.post("/auth/token", data={"grant_type": "authorization_code", "code": _code(client, app, pair),
                                               "redirect_uri": REDIRECT}, headers=_basic())
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"


def test_refresh_rotates_and_keeps_context(client, app, clients):
    pair = pkce()
    code = _code(client, app, pair, {"patient": "pat-9", "encounter": "e-9"})
    first = client.post("/auth/token", data={"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": REDIRECT, "code_verifier": pair[0]}, headers=_basic()).get_json()
    second = client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                         headers=_basic())
    assert second.status_code == 200, second.get_data(as_text=True)
    body = second.get_json()
    assert body["access_token"] != first["access_token"] and body["refresh_token"] != first["refresh_token"]
    assert body["patient"] == "pat-9" and body["expires_in"] > 0
    reused = client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                         headers=_basic())
    assert reused.status_code == 400  # the old refresh token was rotated out
    wider = client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                             "scope": "user/*.cruds"}, headers=_basic())
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"


def test_no_refresh_token_without_offline_or_online_access(client, app, clients):
    pair = pkce()
    code = _code(client, app, pair, scope="launch patient/*.rs")
    tok = client.post("/auth/token", data={"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": REDIRECT, "code_verifier": pair[0]}, headers=_basic()).get_json()
    assert "refresh_token" not in tok and "id_token" not in tok


def _jwt_token(client, key, code, verifier, **kw):
    return client.post("/auth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(key, "jwt-app", kw.pop("aud", f"{BASE}/auth/token"), **kw)})


def test_private_key_jwt(client, app, clients):
    key = clients
    pair = pkce()
    ok = _jwt_token(client, key, _code(client, app, pair, client_id="jwt-app"), pair[0], jti="one")
    assert ok.status_code == 200, ok.get_data(as_text=True)
    replay = _jwt_token(client, key, _code(client, app, pair, client_id="jwt-app"), pair[0], jti="one")
    assert replay.status_code in (400, 401) and replay.get_json()["error"] == "invalid_client"
    wrong_aud = _jwt_token(client, key, _code(client, app, pair, client_id="jwt-app"), pair[0], aud=f"{BASE}/other")
    assert wrong_aud.get_json()["error"] == "invalid_client"
    other_key = _jwt_token(client, new_key(), _code(client, app, pair, client_id="jwt-app"), pair[0])
    assert other_key.get_json()["error"] == "invalid_client"
    too_long = _jwt_token(client, key, _code(client, app, pair, client_id="jwt-app"), pair[0], exp_in=3600)
    assert too_long.get_json()["error"] == "invalid_client"


def test_client_secret_basic_with_a_wrong_secret_is_refused(client, app, clients):
    pair = pkce()
    bad = {"Authorization": "Basic " + base64.b64encode(b"basic-app:nope").decode()}
    resp = client.post("/auth/token", data={"grant_type": "authorization_code", "code": _code(client, app, pair),
                                            "redirect_uri": REDIRECT, "code_verifier": pair[0]}, headers=bad)
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


def test_standalone_launch_shows_the_patient_picker(client, app, clients):
    pair = pkce()
    page = _authorize(client, scope="launch/patient patient/*.rs", challenge=pair[1])
    assert page.status_code == 200 and b'data-testid="patient-picker"' in page.data
    form = {"response_type": "code", "client_id": "basic-app", "redirect_uri": REDIRECT, "scope": "launch/patient patient/*.rs",
            "state": "st-123", "aud": f"{BASE}/fhir", "code_challenge": pair[1], "code_challenge_method": "S256",
            "patient": "tx-esi-fix"}
    resp = client.post("/auth/authorize", data=form)
    assert resp.status_code == 302
    tok = client.post("/auth/token", data={"grant_type": "authorization_code", "code": query(resp.headers["Location"])["code"],
                                           "redirect_uri": REDIRECT, "code_verifier": pair[0]}, headers=_basic()).get_json()
    assert tok["patient"] == "tx-esi-fix" and tok["need_patient_banner"] is True


def test_bad_redirect_uri_is_never_followed_and_wrong_aud_is_refused(client, app, clients):
    pair = pkce()
    evil = client.get("/auth/authorize", query_string={
        "response_type": "code", "client_id": "basic-app", "redirect_uri": "https://evil.test/cb", "scope": "launch",
        "state": "s", "aud": f"{BASE}/fhir", "code_challenge": pair[1], "code_challenge_method": "S256"})
    assert evil.status_code == 400 and "Location" not in evil.headers
    resp = _authorize(client, challenge=pair[1], aud="https://other.test/fhir",
                      launch_id=launch.create(state.of(app).db, {"patient": "p"}))
    assert resp.status_code == 302 and query(resp.headers["Location"])["error"] == "invalid_request"
    stale = _authorize(client, challenge=pair[1], launch_id="no-such-launch")
    assert stale.status_code == 400
