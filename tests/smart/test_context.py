"""Launch context parsing (SMART App Launch 2.2 §Launch context; standards.md §5.4, §3.2; CC-61) and
FHIR access bound to ``iss`` (CC-62), scope dialects (§5.3) and discovery rules (CC-60)."""

from __future__ import annotations

import json

import pytest
import requests

from cds_service import state
from smart_app import context as ctx
from smart_app.discovery import LaunchError, parse_config
from smart_app.fhir import AppFhir, FhirAccessError


def test_cc61_fhir_context_as_strings_and_as_objects_and_app_context_json_or_not():
    old = ctx.parse({"patient": "pat-1", "fhirContext": ["ServiceRequest/sr-1", "Coverage/cov-1"],
                     "appContext": "questionnaire=q1&order=ServiceRequest/sr-1"})
    new = ctx.parse({"patient": "pat-1", "encounter": "enc-9",
                     "fhirContext": [{"reference": "ServiceRequest/sr-1"}, {"reference": "https://ehr/fhir/Coverage/cov-1"},
                                     {"canonical": "http://x/Questionnaire/q"}, {"identifier": {"value": "1"}}, 7],
                     "appContext": json.dumps({"ctx": "h" * 32}), "need_patient_banner": False,
                     "smart_style_url": "https://ehr/style.json", "intent": "reconcile", "tenant": "t1",
                     "some_vendor_key": {"x": 1}})
    assert old.fhir_context == new.fhir_context == ("ServiceRequest/sr-1", "Coverage/cov-1")
    assert old.handle is None and old.app_context.startswith("questionnaire=")
    assert new.handle == "h" * 32 and new.encounter == "enc-9" and new.need_patient_banner is False
    assert new.smart_style_url == "https://ehr/style.json" and new.tenant == "t1"
    assert "some_vendor_key" not in new.as_dict()


@pytest.mark.parametrize("app_context", ["", "not json", "[1,2]", '{"ctx": 5}', '{"ctx": "short"}', None, {"ctx": "x" * 20}])
def test_cc61_odd_app_context_never_breaks_the_parser(app_context):
    parsed = ctx.parse({"patient": "p", "appContext": app_context, "fhirContext": "ServiceRequest/1"})
    assert parsed.patient == "p" and parsed.fhir_context == ()
    assert parsed.handle == ("x" * 20 if isinstance(app_context, dict) else None)


def test_cc61_need_patient_banner_defaults_to_true_and_accepts_strings():
    assert ctx.parse({}).need_patient_banner is True
    assert ctx.parse({"need_patient_banner": "false"}).need_patient_banner is False


def test_scopes_v2_and_v1_fallback():
    v2 = ctx.scopes("v2", ehr_launch=True).split()
    v1 = ctx.scopes("v1", ehr_launch=False).split()
    assert "patient/*.rs" in v2 and "patient/QuestionnaireResponse.cu" in v2 and "launch" in v2
    assert "patient/*.read" in v1 and "patient/Claim.write" in v1 and "launch/patient" in v1
    assert not any(s.endswith((".rs", ".cu")) for s in v1)


def _doc(**over):
    doc = {"authorization_endpoint": "../auth/authorize", "token_endpoint": "https://as.example/token",
           "code_challenge_methods_supported": ["S256"], "capabilities": ["launch-ehr"]}
    doc.update(over)
    return doc


def test_cc60_relative_endpoints_resolved_against_iss_and_s256_required():
    cfg = parse_config("https://ehr.example/r4/fhir", _doc())
    assert cfg.authorization_endpoint == "https://ehr.example/r4/auth/authorize"
    with pytest.raises(LaunchError, match="S256"):
        parse_config("https://ehr.example/fhir", _doc(code_challenge_methods_supported=["plain"]))
    with pytest.raises(LaunchError, match="token_endpoint"):
        parse_config("https://ehr.example/fhir", _doc(token_endpoint=None))


def test_scope_dialect_follows_the_server():
    assert parse_config("https://e/fhir", _doc(scopes_supported=["patient/*.read", "launch"])).scope_version == "v1"
    assert parse_config("https://e/fhir", _doc(scopes_supported=["patient/*.rs", "patient/*.read"])).scope_version == "v2"
    assert parse_config("https://e/fhir", _doc(capabilities=["permission-v1"])).scope_version == "v1"
    assert parse_config("https://e/fhir", _doc()).scope_version == "v2"


def test_cc62_token_is_never_sent_to_another_host(stack):
    ehr, foreign = stack.ehrs["foreign-next"], stack.ehrs["foreign"]
    token = requests.post(ehr.base + "/_test/token", json={"patient": "pat-1"}, timeout=5).json()["access_token"]
    fhir = AppFhir(ehr.fhir, token)
    before = len(foreign.log()["fhir"])
    fhir.search("Condition", {"patient": "pat-1"})  # the Bundle's next link points at the foreign host
    with pytest.raises(FhirAccessError, match="server other than the EHR"):
        fhir.read(foreign.fhir + "/Patient/pat-1")
    with pytest.raises(FhirAccessError, match="dot segments"):
        fhir.read(ehr.fhir + "/../../evil")
    assert len(foreign.log()["fhir"]) == before
    assert any(r["path"] == "/fhir/Condition" for r in ehr.log()["fhir"])


def test_cookie_is_samesite_none_and_secure_behind_https(settings, tmp_path):
    from dataclasses import replace

    from cds_service.app import create_app
    from cds_service.clients import add_client

    app = create_app(replace(settings, base_url="https://painpa.example.org"))
    add_client(state.of(app).db, iss="https://ehr.example.org", jwks={"keys": [
        {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}, fhir_bases=["https://ehr.example.org/fhir"],
        smart_client_id="painpa")
    with app.test_request_context("/smart/launch"):
        from smart_app.session import cookie_kwargs

        assert cookie_kwargs("/smart/app/x") == {"httponly": True, "secure": True, "samesite": "None",
                                                 "path": "/smart/app/x"}
    client = app.test_client()
    r = client.get("/smart/launch")
    assert "frame-ancestors 'self' https://ehr.example.org" in r.headers["Content-Security-Policy"]
    assert client.get("/smart/app/unknown-session/form/nope").status_code == 401


def test_a_questionnaire_canonical_in_fhir_context_is_kept_as_given_with_its_version():
    """SMART 2.2 fhirContext objects may carry a ``canonical``; DTR 2.2 "Retrieving Questionnaire
    Packages" asks for the form by its version-specific canonical. References keep working as before."""
    parsed = ctx.parse({"patient": "p", "fhirContext": [
        {"reference": "ServiceRequest/sr-1"}, "Coverage/cov-1",
        {"canonical": " http://painpa.org/fhir/Questionnaire/conservative-therapy|2026.12 ", "type": "Questionnaire"},
        {"canonical": "http://payer.example/fhir/Questionnaire/other"},             # no type: the path says it
        {"canonical": "http://painpa.org/fhir/Questionnaire/conservative-therapy|2026.12", "type": "Questionnaire"},
        {"canonical": "http://payer.example/fhir/ValueSet/v"}, {"canonical": "http://x/Questionnaire/q", "type": "Library"},
        {"canonical": 7}, {"canonical": ""}]})
    assert parsed.fhir_context == ("ServiceRequest/sr-1", "Coverage/cov-1")
    assert parsed.questionnaires == ("http://painpa.org/fhir/Questionnaire/conservative-therapy|2026.12",
                                     "http://payer.example/fhir/Questionnaire/other")
    assert parsed.names_a_form()
    stored = ctx.LaunchContext.from_dict(parsed.as_dict())            # what the session keeps reads back the same
    assert stored.questionnaires == parsed.questionnaires and stored.fhir_context == parsed.fhir_context
    assert ctx.split_canonical(parsed.questionnaires[0]) == ("http://painpa.org/fhir/Questionnaire/conservative-therapy",
                                                             "2026.12")
    assert ctx.split_canonical(parsed.questionnaires[1]) == ("http://payer.example/fhir/Questionnaire/other", None)


def test_a_questionnaire_response_in_fhir_context_names_a_form_and_plain_order_launches_do_not():
    relaunch = ctx.parse({"patient": "p", "fhirContext": [{"reference": "QuestionnaireResponse/qr-1"}, "Coverage/c"]})
    assert relaunch.references_of("QuestionnaireResponse") == ["QuestionnaireResponse/qr-1"]
    assert relaunch.names_a_form() and relaunch.questionnaires == ()
    assert not ctx.parse({"patient": "p", "fhirContext": [{"reference": "ServiceRequest/sr-1"}]}).names_a_form()
