"""Request handling (CDS Hooks 2.0 §Calling a CDS Service; CRD hooks.md errors; standards.md §8):
CC-20..CC-32, and the never-a-500 rule for odd input."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from cds_service import clients, state
from cds_service.app import create_app
from tests.support.cds_caller import Caller
from tests.support.hook_requests import ISS, SELECT, SIGN, full_prefetch, hook_body, load
from tests.support.response_checks import check_coverage_information, check_shape, coverage_infos

TOKEN = "secret-access-token-" + "q" * 16
ESI = "ServiceRequest/sr-esi-1"


def _oo(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["diagnostics"]
    return body["issue"][0]["diagnostics"]


def test_cc20_unparsable_json_is_400_operation_outcome(caller):
    assert "JSON" in _oo(caller.post(SIGN, b"{\"hook\": "), 400)
    _oo(caller.post(SIGN, b"[1, 2]"), 400)


@pytest.mark.parametrize("missing", ["hook", "hookInstance", "context"])
def test_cc21_missing_required_field_is_400_naming_it(caller, missing):
    body = hook_body(prefetch=full_prefetch())
    del body[missing]
    assert missing in _oo(caller.post(SIGN, body), 400)


def test_cc21_missing_context_fields_named(caller):
    body = hook_body(prefetch=full_prefetch())
    del body["context"]["draftOrders"]
    assert "draftOrders" in _oo(caller.post(SIGN, body), 400)
    body = hook_body("order-select", prefetch=full_prefetch())
    del body["context"]["selections"]
    assert "selections" in _oo(caller.post(SELECT, body), 400)


def test_cc21_crd_constraints_are_422(caller):
    body = hook_body("order-select", prefetch=full_prefetch(), selections=["ServiceRequest/not-a-draft"])
    assert "selections" in _oo(caller.post(SELECT, body), 422)
    body = hook_body(prefetch=full_prefetch())
    del body["context"]["draftOrders"]["entry"][0]["resource"]["id"]
    _oo(caller.post(SIGN, body), 422)


def test_cc22_hook_mismatch_is_400(caller):
    assert "hook" in _oo(caller.post(SELECT, hook_body("order-sign", prefetch=full_prefetch())), 400)


def test_cc23_unknown_context_fields_and_extensions_ignored(caller):
    body = hook_body(prefetch=full_prefetch(), extension={"x-vendor.thing": {"a": 1}})
    body["context"]["vendorFlag"] = {"nested": True}
    body["unknownTopLevel"] = 1
    resp = caller.post(SIGN, body)
    assert resp.status_code == 200
    check_shape(resp.get_json(), body)


def test_cc24_null_coverage_without_fhir_access(caller):
    prefetch = {**full_prefetch(), "coverage": None}
    assert caller.post(SIGN, hook_body(prefetch=prefetch)).status_code == 412
    v22 = hook_body(prefetch=prefetch, extension={"davinci-crd.requestedVersion": "2.2"})
    resp = caller.post(SIGN, v22)
    assert resp.status_code == 200
    check_shape(resp.get_json(), v22)


def test_cc25_missing_prefetch_queried_with_bearer_then_200(caller, fhir):
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    resp = caller.post(SIGN, body)
    assert resp.status_code == 200
    log = fhir.log()
    assert any(e["path"] == "/fhir/Coverage" for e in log)
    check_coverage_information(resp.get_json(), body, in_scope={ESI})


def test_cc26_operation_outcome_prefetch_is_queried(caller, fhir):
    prefetch = {**full_prefetch(), "coverage": {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "timeout"}]}}
    body = hook_body(prefetch=prefetch, fhir_server=fhir.base, token=TOKEN)
    assert caller.post(SIGN, body).status_code == 200
    assert [e["path"] for e in fhir.log() if e["path"].startswith("/fhir/Coverage")] == ["/fhir/Coverage"]


@pytest.mark.parametrize("server", [
    "http://169.254.169.254/latest/meta-data",
    "https://ehr.example.org.evil.example/fhir",
    "https://ehr.example.org/fhirx",
    "http://ehr.example.org/fhir",
    "https://user:pw@ehr.example.org/fhir",
])
def test_cc27_unregistered_fhir_server_refused_before_any_request(caller, server):
    body = hook_body(fhir_server=server, token=TOKEN)
    assert "fhirServer" in _oo(caller.post(SIGN, body), 400)


def test_cc27_http_base_usable_only_when_insecure_registration_allowed(app, es_key, fhir):
    strict = create_app(replace(state.of(app).settings, allow_insecure_registered=False))
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    _oo(Caller(strict, es_key).post(SIGN, body), 400)
    assert fhir.log() == []


def test_cc28_redirect_not_followed_and_answer_still_200(caller, fhir):
    fhir.control(redirect=["Coverage"])
    body = hook_body(fhir_server=fhir.base, token=TOKEN, extension={"davinci-crd.requestedVersion": "2.2"})
    resp = caller.post(SIGN, body)
    assert resp.status_code == 200
    check_shape(resp.get_json(), body)


def test_cc29_absolute_reference_elsewhere_not_fetched(caller, fhir):
    order = load("orders.json")["esi"]
    order["locationReference"] = [{"reference": "https://elsewhere.example/fhir/Location/x"}]
    body = hook_body(orders=[order], fhir_server=fhir.base, token=TOKEN)
    assert caller.post(SIGN, body).status_code == 200
    assert not any("Location/x" in e["path"] for e in fhir.log())


def test_cc30_token_and_jwt_never_logged(app, caller, fhir, caplog):
    caplog.set_level(logging.DEBUG)
    fhir.control(fail=["Observation"])  # a failure path logs too
    body = hook_body(fhir_server=fhir.base, token=TOKEN)
    from tests.support import jwt as tjwt

    jwt_ = tjwt.sign(caller.key, ISS, caller.base + f"/cds-services/{SIGN}")
    assert caller.post(SIGN, body, token=jwt_).status_code == 200
    assert caller.post(SIGN, body, token=jwt_).status_code == 401  # replay, logged as refused
    assert TOKEN not in caplog.text and jwt_ not in caplog.text  # at any level, DEBUG included
    production = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "pt-esi-1" not in production  # patient ids stay out of the INFO log serve writes


def test_cc31_configuration_honoured(caller):
    base = caller.post(SIGN, hook_body(prefetch=full_prefetch())).get_json()
    topics = {c["source"]["topic"]["code"] for c in base["cards"]}
    for topic in topics:
        body = hook_body(prefetch=full_prefetch(), extension={"davinci-crd.configuration": {topic: False}})
        resp = caller.post(SIGN, body).get_json()
        assert topic not in {c["source"]["topic"]["code"] for c in resp["cards"]}
    one = caller.post(SIGN, hook_body(prefetch=full_prefetch(),
                                      extension={"davinci-crd.configuration": {"max-cards": 1}})).get_json()
    assert len(one["cards"]) <= 1
    odd = {"davinci-crd.configuration": {"unknown-key": 3, "max-cards": "many", "guideline": "yes"}}
    assert caller.post(SIGN, hook_body(prefetch=full_prefetch(), extension=odd)).status_code == 200


def test_cc32_order_select_evaluates_only_selections(caller):
    orders = load("orders.json")
    esi, other = orders["esi"], orders["other"]
    body = hook_body("order-select", orders=[other, esi], selections=["ServiceRequest/sr-other-1"],
                     prefetch=full_prefetch())
    resp = caller.post(SELECT, body).get_json()
    check_shape(resp, body)
    assert all("sr-esi-1" not in str(c) for c in resp["cards"])
    assert not [a for a, _ in coverage_infos(resp) if a["resource"]["id"] == "sr-esi-1"]
    body = hook_body("order-select", orders=[other, esi], selections=[ESI], prefetch=full_prefetch())
    resp = caller.post(SELECT, body).get_json()
    check_shape(resp, body)
    check_coverage_information(resp, body, in_scope=set())
    assert resp["cards"] or coverage_infos(resp)  # the selected ESI order is answered


def test_unknown_service_404_and_wrong_method_405(caller, client):
    _oo(caller.post("no-such-service", hook_body(prefetch=full_prefetch())), 404)
    _oo(client.get(f"/cds-services/{SIGN}"), 405)
    _oo(client.delete("/cds-services"), 405)


def test_oversized_body_413(app, es_key):
    small = create_app(replace(state.of(app).settings, max_request_bytes=2048))
    body = hook_body(prefetch=full_prefetch())
    _oo(Caller(small, es_key).post(SIGN, body), 413)


def test_client_registered_jwks_rotation(app, caller):
    """Replacing a client's registration (new keys) takes effect on the next call."""
    from tests.support import jwt as tjwt

    new_key = tjwt.make_key("ES384")
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(new_key),
                       fhir_bases=["https://ehr.example.org/fhir"])
    assert caller.post(SIGN, {}).status_code == 401
    assert caller.post(SIGN, {}, key=new_key).status_code == 400


def test_cc56_hanging_fhir_server_degrades_to_a_valid_answer(app, es_key, fhir):
    """The deadline cuts the hung query; the answer is 200, valid, and the audit row names the gap."""
    from sqlalchemy import select

    from cds_service.store.tables import AuditEvent

    tight = create_app(replace(state.of(app).settings, fhir_deadline_s=0.5, fhir_read_timeout_s=5))
    fhir.control(slow={"Procedure": 3})
    for version in ("2.0.1", "2.2"):
        ext = {"davinci-crd.requestedVersion": "2.2"} if version == "2.2" else None
        body = hook_body(fhir_server=fhir.base, token=TOKEN, extension=ext)
        resp = Caller(tight, es_key).post(SIGN, body)
        assert resp.status_code == 200
        check_shape(resp.get_json(), body)
        check_coverage_information(resp.get_json(), body, in_scope={ESI})
    with state.of(tight).db.session() as s:
        rows = list(s.scalars(select(AuditEvent)))
    assert rows and all("Procedure" in r.incomplete for r in rows)


@pytest.mark.parametrize("field", ["fhirServer", "hookInstance", "context.patientId",
                                   "context.draftOrders.entry.0.resource.id"])
def test_unpaired_surrogate_escape_is_400_not_500(caller, field):
    # "\ud800" is legal JSON but not Unicode text: it crashed hashing and rendering further on.
    body = hook_body(prefetch=full_prefetch())
    *path, last = field.split(".")
    node = body
    for key in path:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = "x\ud800y"
    resp = caller.post(SIGN, body)
    assert resp.status_code == 400
    assert "surrogate" in resp.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("token", ["tok\r\nX-Injected: 1", "tok€", "two words", "tok\x00"])
def test_an_access_token_that_is_no_bearer_token_is_400_before_any_request(caller, fhir, token):
    """RFC 6750 §2.1: the token goes into an Authorization header; CR/LF there was a 500 (http.client
    refuses the header), a non-Latin-1 character too. Refused up front, and the EHR is never asked."""
    body = hook_body(fhir_server=fhir.base, token=token)
    assert "fhirAuthorization.access_token" in _oo(caller.post(SIGN, body), 400)
    assert fhir.log() == []


@pytest.mark.parametrize("token", ["eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJ4In0.c2ln-_", "opaque+token/with~all.chars==",
                                   "some-opaque-fhir-access-token"])
def test_jwt_and_opaque_access_tokens_are_still_used(caller, fhir, token):
    assert caller.post(SIGN, hook_body(fhir_server=fhir.base, token=token)).status_code == 200
    assert fhir.log()


def test_surrogate_pairs_are_still_text(caller):
    body = hook_body(prefetch=full_prefetch())
    body["context"]["vendorNote"] = "pain \U0001F62C"  # json.dumps writes it as a \ud83d\ude2c pair
    assert caller.post(SIGN, body).status_code == 200


@pytest.mark.parametrize("entry", [5, True, 1.5])
def test_prefetch_bundle_whose_entry_is_not_an_array_counts_as_missing(caller, fhir, entry):
    prefetch = {**full_prefetch(), "coverage": {"resourceType": "Bundle", "type": "searchset", "entry": entry}}
    assert caller.post(SIGN, hook_body(prefetch=prefetch)).status_code == 412  # 2.0.1: cannot get it
    body = hook_body(prefetch=prefetch, fhir_server=fhir.base, token=TOKEN)
    resp = caller.post(SIGN, body)
    assert resp.status_code == 200
    assert [e["path"] for e in fhir.log() if e["path"].startswith("/fhir/Coverage")] == ["/fhir/Coverage"]
    check_coverage_information(resp.get_json(), body, in_scope={ESI})


def test_prefetch_bundle_whose_link_is_not_an_array_is_kept(caller, fhir):
    prefetch = full_prefetch()
    prefetch["coverage"] = {**prefetch["coverage"], "link": 7}
    resp = caller.post(SIGN, hook_body(prefetch=prefetch, fhir_server=fhir.base, token=TOKEN))
    assert resp.status_code == 200
    assert not [e for e in fhir.log() if e["path"].startswith("/fhir/Coverage")]


def test_unknown_service_404_does_not_echo_an_unbounded_id(client):
    """A 404 names the unknown service, but never reflects kilobytes of caller input back."""
    resp = client.post("/cds-services/" + "x" * 5000, json={})
    assert resp.status_code == 404
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert len(resp.get_data()) < 1000


@pytest.mark.parametrize("variant", ["upper", "slash", "spaces", "tab"])
def test_cc27_queries_go_to_the_base_that_was_checked(caller, fhir, variant):
    """The allowlist compares a normalised fhirServer with the registered bases; the queries then go
    to that normalised URL, never to the text as sent, so no difference between two URL parsers can
    send the bearer token to a host other than the one that was checked."""
    scheme, rest = fhir.base.split("://", 1)
    server = {"upper": f"{scheme.upper()}://{rest}", "slash": fhir.base + "/",
              "spaces": f"  {fhir.base} ", "tab": fhir.base + "\t"}[variant]
    resp = caller.post(SIGN, hook_body(fhir_server=server, token=TOKEN))
    assert resp.status_code == 200
    paths = [e["path"] for e in fhir.log()]
    assert "/fhir/Coverage" in paths and all(p.startswith("/fhir/") for p in paths), paths
    assert all(e["token_ok"] for e in fhir.log())
