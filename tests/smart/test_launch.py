"""SMART App Launch 2.2 against a real authlib authorization server process (standards.md §5, §9.3;
CC-57…CC-60, CC-62, CC-63): what the app sends, and what it refuses."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from functools import partial
from urllib.parse import urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from cds_service.config import Settings
from cds_service.store.base import Database
from smart_app import keys, oauth
from smart_app.tables import SmartKey, SmartSession, digest
from tests.support.smart_stack import CLIENT_ID

B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def test_cc57_ehr_launch_authorize_request_carries_every_required_parameter(stack):
    ehr = stack.ehrs["normal"]
    _, params, resp, _ = stack.launch(ehr)
    assert params["response_type"] == "code"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == stack.base + "/smart/callback"
    assert params["aud"] == ehr.fhir
    assert params["launch"]
    assert len(params["state"]) >= 22 and B64URL.match(params["state"])
    assert 43 <= len(params["code_challenge"]) <= 128 and B64URL.match(params["code_challenge"])
    assert params["code_challenge_method"] == "S256"
    scopes = params["scope"].split()
    assert {"launch", "openid", "fhirUser", "offline_access", "patient/*.rs"} <= set(scopes)
    assert "patient/Observation.cu" in scopes
    assert resp.status_code == 303 and "/smart/app/" in resp.headers["Location"], resp.text[-600:]


def test_cc59_token_request_has_code_verifier_and_client_assertion(stack):
    ehr = stack.ehrs["normal"]
    before = len(ehr.log()["token"])
    _, params, resp, callback = stack.launch(ehr)
    assert resp.status_code == 303
    token_req = ehr.log()["token"][before]
    assert token_req["grant_type"] == "authorization_code"
    assert token_req["redirect_uri"] == params["redirect_uri"]
    assert token_req["code"] == dict(p.split("=", 1) for p in urlsplit(callback).query.split("&"))["code"]
    digest_ = base64.urlsafe_b64encode(hashlib.sha256(token_req["code_verifier"].encode()).digest()).rstrip(b"=")
    assert digest_.decode() == params["code_challenge"]
    assert token_req["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    keyset = KeySet.import_key_set(requests.get(stack.base + "/.well-known/jwks.json", timeout=5).json())
    claims = jwt.decode(token_req["client_assertion"], keyset, algorithms=["ES384"]).claims
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == ehr.base + "/auth/token"
    assert claims["exp"] - time.time() <= 300 and claims["jti"]
    assert not token_req["_basic"]


def test_cc58_wrong_or_missing_state_is_refused_without_a_token_request(stack):
    ehr = stack.ehrs["normal"]
    s = stack.browser()
    launch = ehr.launch({"patient": "pat-1"})
    s.get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": launch}, allow_redirects=False)
    before = len(ehr.log()["token"])
    bad = s.get(f"{stack.base}/smart/callback", params={"code": "x", "state": secrets.token_urlsafe(32)})
    missing = s.get(f"{stack.base}/smart/callback", params={"code": "x"})
    assert bad.status_code == 400 and "state" in bad.text
    assert missing.status_code == 400 and "no state" in missing.text
    assert len(ehr.log()["token"]) == before


def test_cc58_reused_state_is_refused(stack):
    ehr = stack.ehrs["normal"]
    s, _, first, callback = stack.launch(ehr)
    assert first.status_code == 303
    before = len(ehr.log()["token"])
    again = s.get(callback, allow_redirects=False)
    assert again.status_code == 400 and "reused" in again.text
    assert len(ehr.log()["token"]) == before


def test_cc58_state_is_bound_to_the_browser_that_started_the_launch(stack):
    ehr = stack.ehrs["normal"]
    s = stack.browser()
    launch = ehr.launch({"patient": "pat-1"})
    r = s.get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": launch}, allow_redirects=False)
    callback = s.get(r.headers["Location"], allow_redirects=False).headers["Location"]
    other = stack.browser().get(callback, allow_redirects=False)
    assert other.status_code == 400 and "another browser" in other.text


def test_cc60_server_without_s256_is_refused(stack):
    ehr = stack.ehrs["no-s256"]
    r = stack.browser().get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": "abc"},
                            allow_redirects=False)
    assert r.status_code == 502 and "S256" in r.text
    assert ehr.log()["authorize"] == []


def test_cc60_relative_endpoints_are_resolved_against_iss(stack):
    ehr = stack.ehrs["relative"]
    _, _, resp, _ = stack.launch(ehr)
    assert resp.status_code == 303
    assert len(ehr.log()["token"]) >= 1


def test_unregistered_iss_is_refused_before_any_outbound_request(stack):
    ehr = stack.unregistered
    r = stack.browser().get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": "abc"},
                            allow_redirects=False)
    assert r.status_code == 400 and "not registered" in r.text
    assert ehr.log()["discovery"] == []


def test_wrong_redirect_uri_gets_no_code_and_an_authorization_error_is_shown(stack):
    ehr = stack.ehrs["wrong-redirect"]
    s = stack.browser()
    launch = ehr.launch({"patient": "pat-1"})
    r = s.get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": launch}, allow_redirects=False)
    answer = s.get(r.headers["Location"], allow_redirects=False)
    assert answer.status_code >= 400 and "code=" not in answer.headers.get("Location", "")
    assert ehr.log()["token"] == []
    denied = s.get(f"{stack.base}/smart/callback", params={"state": "x" * 43, "error": "access_denied"})
    assert denied.status_code == 400


def test_standalone_launch_asks_for_patient_context_and_no_launch_parameter(stack):
    ehr = stack.ehrs["normal"]
    r = stack.browser().get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir}, allow_redirects=False)
    assert r.status_code == 302
    query = urlsplit(r.headers["Location"]).query
    assert "launch%2Fpatient" in query and "&launch=" not in query


def test_v1_only_server_gets_v1_scopes(stack):
    ehr = stack.ehrs["v1"]
    _, params, resp, _ = stack.launch(ehr)
    assert "patient/*.read" in params["scope"].split() and ".rs" not in params["scope"]
    assert resp.status_code == 303


def test_client_secret_where_registered_uses_http_basic(stack):
    ehr = stack.ehrs["secret"]
    _, _, resp, _ = stack.launch(ehr)
    assert resp.status_code == 303
    token_req = ehr.log()["token"][-1]
    assert token_req["_basic"] and "client_assertion" not in token_req


def test_cc63_refresh_before_expiry_replaces_the_refresh_token(stack):
    ehr = stack.ehrs["short-token"]
    before = len(ehr.log()["token"])  # the EHR serves the whole session: count this test's requests only
    _, _, resp, _ = stack.launch(ehr)
    sid = resp.headers["Location"].rsplit("/", 1)[1]
    db = Database(f"sqlite:///{stack.home / 'painpa.db'}")
    settings = Settings.from_env(env={}, home=stack.home, base_url=stack.base)  # the instance's, as the process reads it
    with db.session() as s:
        row = s.get(SmartSession, digest(sid))
        first_access, first_refresh = row.access_token, row.refresh_token
    token = oauth.access_token(db, settings, digest(sid))  # 30 s left < 60 s skew: refresh now
    unseal = partial(keys.unseal, db, settings)
    with db.session() as s:
        row = s.get(SmartSession, digest(sid))
        assert token == unseal(row.access_token) != unseal(first_access)
        assert row.refresh_token and unseal(row.refresh_token) != unseal(first_refresh)
        assert token not in row.access_token  # sealed at rest
        row.expires_at = time.time() + 5
    oauth.access_token(db, settings, digest(sid))  # works only with the new refresh token
    grants = [t["grant_type"] for t in ehr.log()["token"][before:]]
    assert grants.count("refresh_token") == 2
    with db.session() as s:
        assert s.get(SmartSession, digest(sid)).refreshes == 2
    db.dispose()


def test_session_cookie_is_httponly_and_tokens_never_reach_the_browser(stack):
    ehr = stack.ehrs["normal"]
    s = stack.browser()
    launch = ehr.launch({"patient": "pat-1"})
    r = s.get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": launch}, allow_redirects=False)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    callback = s.get(r.headers["Location"], allow_redirects=False)
    done = s.get(callback.headers["Location"], allow_redirects=False)
    assert "access_token" not in done.text
    # The callback sets the session's own cookie (rotated, tests/smart/test_session_fixation.py) and
    # clears the launch's: opaque ids, HttpOnly, never a token.
    set_cookies = done.raw.headers.getlist("Set-Cookie")
    assert [c.split("=", 1)[0] for c in set_cookies if "Max-Age=0" not in c] == ["painpa_smart"]
    assert all("HttpOnly" in c and "SameSite=Lax" in c for c in set_cookies)


def test_jwks_is_public_only_and_the_private_key_is_stored_encrypted(stack):
    published = requests.get(stack.base + "/.well-known/jwks.json", timeout=5).json()["keys"]
    assert published and all("d" not in k for k in published) and published[0]["alg"] == "ES384"
    assert not [p.name for p in stack.home.iterdir() if p.name.startswith("smart_") and "key" in p.name]
    db = Database(f"sqlite:///{stack.home / 'painpa.db'}")
    try:
        with db.session() as s:
            row = s.get(SmartKey, published[0]["kid"])
            assert row.public_jwk == published[0]
            assert row.private_jwe.count(".") == 4 and '"d"' not in row.private_jwe   # compact JWE only
    finally:
        db.dispose()


def test_frame_ancestors_allow_registered_ehrs_and_no_frame_denial(stack):
    r = requests.get(stack.base + "/smart/launch", timeout=5)
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and stack.ehrs["normal"].base in csp
    assert stack.unregistered.base not in csp
    assert "X-Frame-Options" not in r.headers
