"""Client JWT checks (CDS Hooks 2.0 §Trusting CDS Clients; best practices): CC-9..CC-19.

A call that passes authentication and sends ``{}`` gets 400 (invalid request), one that fails gets
401 with no detail: the status tells which side of the gate the token landed on.
"""

from __future__ import annotations

import time

import pytest

from cds_service import clients, state
from tests.support import jwt as tjwt
from tests.support.hook_requests import ISS, SIGN

PASSED = 400  # authenticated; the empty body is then refused as a bad request


def _assert_401_without_detail(resp):
    assert resp.status_code == 401
    body = resp.get_json()
    assert body["issue"][0]["diagnostics"] == "Unauthorized"


def test_cc9_no_authorization_header_is_401(client):
    _assert_401_without_detail(client.post(f"/cds-services/{SIGN}", json={}))


def test_cc10_alg_none_and_hmac_refused(caller, settings):
    aud = f"{settings.base_url}/cds-services/{SIGN}"
    _assert_401_without_detail(caller.post(SIGN, {}, token=tjwt.unsigned(ISS, aud)))
    _assert_401_without_detail(caller.post(SIGN, {}, token=tjwt.hmac_signed(ISS, aud)))


def test_cc11_unknown_key_refused(caller):
    stranger = tjwt.make_key("ES384")
    _assert_401_without_detail(caller.post(SIGN, {}, key=stranger))
    same_kid = tjwt.make_key("ES384", kid=caller.key.kid)  # right kid, wrong key material
    _assert_401_without_detail(caller.post(SIGN, {}, key=same_kid))


def test_cc12_expired_beyond_leeway_refused_within_leeway_accepted(caller):
    now = int(time.time())
    _assert_401_without_detail(caller.post(SIGN, {}, exp=now - 120, iat=now - 400))
    assert caller.post(SIGN, {}, exp=now - 10, iat=now - 300).status_code == PASSED


def test_cc13_aud_must_be_the_exact_endpoint(caller, settings):
    _assert_401_without_detail(caller.post(SIGN, {}, aud=f"{settings.base_url}/cds-services"))
    _assert_401_without_detail(caller.post(SIGN, {}, aud=f"{settings.base_url}/cds-services/{SIGN}/"))
    _assert_401_without_detail(caller.post(SIGN, {}, aud="sand_man"))
    listed = [f"{settings.base_url}/cds-services/{SIGN}", "https://other.example"]
    assert caller.post(SIGN, {}, aud=listed).status_code == PASSED


def test_cc14_unknown_iss_refused_before_any_fetch(caller, settings, jwks_host):
    key = tjwt.make_key("ES384")
    jwks_host.keys = tjwt.jwks(key)
    token = tjwt.sign(key, "https://unknown.example", f"{settings.base_url}/cds-services/{SIGN}",
                      jku=jwks_host.url)
    _assert_401_without_detail(caller.post(SIGN, {}, token=token))
    assert jwks_host.hits == []


def test_cc15_unregistered_jku_refused_without_fetch(app, caller, settings, jwks_host):
    # the registered client has a stored JWKS; a jku it did not register must not be fetched
    token = tjwt.sign(caller.key, ISS, f"{settings.base_url}/cds-services/{SIGN}", jku=jwks_host.url)
    _assert_401_without_detail(caller.post(SIGN, {}, token=token))
    assert jwks_host.hits == []


def test_cc15_registered_jwks_url_is_fetched_and_cached(app, caller, settings, jwks_host):
    key = tjwt.make_key("RS384")
    jwks_host.keys = tjwt.jwks(key)
    db = state.of(app).db
    clients.add_client(db, iss="https://url-client.example", jwks_url=jwks_host.url,
                       fhir_bases=["https://ehr2.example/fhir"])
    aud = f"{settings.base_url}/cds-services/{SIGN}"
    for _ in range(3):
        token = tjwt.sign(key, "https://url-client.example", aud, jku=jwks_host.url)
        assert caller.post(SIGN, {}, token=token).status_code == PASSED
    assert jwks_host.hits == ["/jwks.json"]  # fetched once, then cached


def test_cc16_replayed_jti_refused(caller):
    token = tjwt.sign(caller.key, ISS, caller.base + f"/cds-services/{SIGN}")
    assert caller.post(SIGN, {}, token=token).status_code == PASSED
    _assert_401_without_detail(caller.post(SIGN, {}, token=token))


def test_cc16_replay_cache_is_shared_through_the_database(app, settings, es_key):
    """A second app instance on the same database (another worker) also refuses the replay."""
    from cds_service.app import create_app

    other = create_app(settings)
    token = tjwt.sign(es_key, ISS, settings.base_url + f"/cds-services/{SIGN}")
    first = app.test_client().post(f"/cds-services/{SIGN}", json={}, headers=tjwt.bearer(token))
    second = other.test_client().post(f"/cds-services/{SIGN}", json={}, headers=tjwt.bearer(token))
    assert (first.status_code, second.status_code) == (PASSED, 401)


def test_cc17_es384_and_rs384_both_accepted(caller, es_key, rs_key):
    assert caller.post(SIGN, {}, key=es_key).status_code == PASSED
    assert caller.post(SIGN, {}, key=rs_key).status_code == PASSED


def test_cc17_other_asymmetric_algorithms_refused(app, caller, settings):
    from joserfc import jwt
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"kid": "p256"})
    clients.add_client(state.of(app).db, iss="https://es256.example", jwks=tjwt.jwks(key),
                       fhir_bases=["https://ehr3.example/fhir"])
    token = jwt.encode({"alg": "ES256", "typ": "JWT", "kid": "p256"},
                       tjwt.claims("https://es256.example", f"{settings.base_url}/cds-services/{SIGN}"), key,
                       algorithms=["ES256"])
    _assert_401_without_detail(caller.post(SIGN, {}, token=token))


def test_cc18_inferno_style_token_accepted(app, caller, settings, jwks_host, es_key):
    iss = jwks_host.url.rsplit("/", 1)[0]
    jwks_host.keys = tjwt.jwks(es_key)
    clients.add_client(state.of(app).db, iss=iss, jwks_url=f"{iss}/jwks.json",
                       fhir_bases=["https://inferno.example/fhir"])
    token = tjwt.inferno_style(es_key, iss, f"{settings.base_url}/cds-services/{SIGN}")
    assert caller.post(SIGN, {}, token=token).status_code == PASSED


def test_cc19_feedback_uses_the_same_rules_with_its_own_aud(caller, settings):
    body = {"feedback": [{"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z"}]}
    service_aud = f"{settings.base_url}/cds-services/{SIGN}"
    _assert_401_without_detail(caller.feedback(SIGN, body, aud=service_aud))
    _assert_401_without_detail(caller.http.post(f"/cds-services/{SIGN}/feedback", json=body))
    assert caller.feedback(SIGN, body).status_code == 200


def test_tenant_mismatch_refused(app, caller, settings, es_key):
    clients.add_client(state.of(app).db, iss="https://tenant.example", jwks=tjwt.jwks(es_key),
                       fhir_bases=["https://t.example/fhir"], tenant="t-1")
    aud = f"{settings.base_url}/cds-services/{SIGN}"
    bad = tjwt.sign(es_key, "https://tenant.example", aud, tenant="t-2")
    _assert_401_without_detail(caller.post(SIGN, {}, token=bad))
    good = tjwt.sign(es_key, "https://tenant.example", aud, tenant="t-1")
    assert caller.post(SIGN, {}, token=good).status_code == PASSED


def test_overlong_lifetime_refused(caller):
    """A token valid longer than the replay window could be replayed after its jti is purged."""
    _assert_401_without_detail(caller.post(SIGN, {}, lifetime=3 * 3600))


@pytest.mark.postgres
def test_cc16_replay_refused_on_postgresql(settings, es_key, postgres_url):
    from dataclasses import replace

    from cds_service.app import create_app

    app = create_app(replace(settings, database_url=postgres_url))
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(es_key),
                       fhir_bases=["https://ehr.example.org/fhir"])
    token = tjwt.sign(es_key, ISS, settings.base_url + f"/cds-services/{SIGN}")
    http = app.test_client()
    first = http.post(f"/cds-services/{SIGN}", json={}, headers=tjwt.bearer(token))
    second = http.post(f"/cds-services/{SIGN}", json={}, headers=tjwt.bearer(token))
    assert (first.status_code, second.status_code) == (PASSED, 401)
    state.of(app).db.dispose()


def test_token_without_kid_verifies_only_against_a_single_key_set(app, caller, settings, es_key, rs_key):
    """CDS Hooks requires ``kid``; tolerated only when the registered set leaves no choice."""
    db = state.of(app).db
    aud = f"{settings.base_url}/cds-services/{SIGN}"
    clients.add_client(db, iss="https://one-key.example", jwks=tjwt.jwks(es_key), fhir_bases=["https://one.example/fhir"])
    token = tjwt.sign(es_key, "https://one-key.example", aud, header={"kid": None})
    assert caller.post(SIGN, {}, token=token).status_code == PASSED
    clients.add_client(db, iss="https://two-keys.example", jwks=tjwt.jwks(rs_key, es_key),
                       fhir_bases=["https://two.example/fhir"])
    token = tjwt.sign(es_key, "https://two-keys.example", aud, header={"kid": None})
    _assert_401_without_detail(caller.post(SIGN, {}, token=token))


@pytest.mark.parametrize("field", ["exp", "iat"])
@pytest.mark.parametrize("value", [float("nan"), 10**400], ids=["nan", "huge-int"])
def test_non_finite_or_unrepresentable_times_are_401_not_500(caller, field, value):
    # json accepts NaN (it compares false with everything, so it passed the expiry check and then
    # crashed the replay cache) and integers no float can hold (``exp - now`` raised OverflowError).
    _assert_401_without_detail(caller.post(SIGN, {}, **{field: value}))


@pytest.mark.parametrize("answer", [b"[" * 30_000 + b"]" * 30_000, b" " * (64 * 1024 + 1) + b"{}", b"\xff\xfe"],
                         ids=["nested-bomb", "oversized", "not-utf8"])
def test_hostile_jwks_answer_is_401_not_500(app, caller, settings, jwks_host, answer):
    # A registered JWKS URL that answers garbage: the key set is unavailable, the call a bare 401
    # (a deeply nested answer raised RecursionError through the view: a 500).
    jwks_host.raw = answer
    key = tjwt.make_key("ES384")
    clients.add_client(state.of(app).db, iss="https://url-client.example", jwks_url=jwks_host.url,
                       fhir_bases=["https://ehr2.example/fhir"])
    token = tjwt.sign(key, "https://url-client.example", f"{settings.base_url}/cds-services/{SIGN}")
    _assert_401_without_detail(caller.post(SIGN, {}, token=token))
    assert jwks_host.hits == ["/jwks.json"]
