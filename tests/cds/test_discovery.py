"""Discovery (CDS Hooks 2.0 §Discovery; CRD configuration-options and version): CC-1..CC-8."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl

from cds_service import state
from cds_service.app import create_app
from cds_service.hooks.service import CARD_TOPICS
from cds_service.services import REGISTRY
from tests.support import jwt as tjwt
from tests.support.hook_requests import ISS
from tests.support.response_checks import walk

ALLOWED_TOKENS = {"context.patientId", "context.userId", "context.encounterId", "userPractitionerId",
                  "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}


def test_cc1_discovery_is_json_with_services(client):
    resp = client.get("/cds-services")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert isinstance(resp.get_json()["services"], list)


def test_cc2_services_have_hook_id_description_unique_url_safe(client):
    services = client.get("/cds-services").get_json()["services"]
    assert {"order-select", "order-sign"} <= {s["hook"] for s in services}
    assert {"painpa-order-select", "painpa-order-sign"} <= {s["id"] for s in services}
    pairs = [(s["id"], s["hook"]) for s in services]
    assert len(pairs) == len(set(pairs))
    for s in services:
        assert re.fullmatch(r"[A-Za-z0-9._~-]+", s["id"])
        assert isinstance(s["description"], str) and s["description"]
        assert s["title"]


def test_cc3_no_null_or_empty_values(client):
    doc = client.get("/cds-services").get_json()
    for path, value in walk(doc):
        assert value not in (None, "", [], {}), path


# CRD 2.2.1 "Additional prefetch capabilities" (deviations.md): FHIRPath over ``context`` and earlier
# prefetch keys (``%key``), with only today(), ofType(), resolve() and read() as functions.
CRD_FUNCTIONS = {"today", "ofType", "resolve", "read"}
CRD_STANDARD = Path(__file__).resolve().parents[2] / "tests" / "cds" / "data" / "crd-2.2.1-standard-prefetch.json"


def _crd_token_ok(token: str, earlier_keys: list[str]) -> bool:
    for path in token.split("|"):
        root = path.split(".")[0]
        if not (root == "context" or (root.startswith("%") and root[1:] in earlier_keys)):
            return False
        if set(re.findall(r"(\w+)\(", path)) - CRD_FUNCTIONS:
            return False
    return True


def test_cc4_prefetch_tokens_are_portable(client):
    """CDS Hooks 2.0 tokens, or CRD 2.2.1's standard prefetch forms (a CH2-only client omits those keys)."""
    standard = json.loads(CRD_STANDARD.read_text())
    for s in client.get("/cds-services").get_json()["services"]:
        if s["hook"] in ("order-select", "order-sign"):
            assert {"patient", "coverage", "user", "encounter", "practitionerRoles", "locations",
                    "organizations"} <= set(s["prefetch"])
        keys = list(s["prefetch"])
        for i, (key, template) in enumerate(s["prefetch"].items()):
            tokens = set(re.findall(r"\{\{\s*([^}]*?)\s*\}\}", template))
            if tokens <= ALLOWED_TOKENS:
                continue
            assert all(_crd_token_ok(t, keys[:i]) for t in tokens), template   # %key only after that key
            if key in standard.get(s["hook"], {}):
                # The key of CRD's standard prefetch: its template, or (organizations) one more payor term.
                assert template == standard[s["hook"]][key] or template.startswith(standard[s["hook"]][key][:-2] + "|"), key


def test_cc5_prefetch_queries_use_the_ch2_subset(client):
    for s in client.get("/cds-services").get_json()["services"]:
        for template in s["prefetch"].values():
            path, _, query = template.partition("?")
            assert "/" not in path or path.count("/") == 1 or path.startswith("{{")
            for name, value in parse_qsl(query, keep_blank_values=True):
                assert not name.startswith("_include") and not name.startswith("_revinclude"), template
                assert "." not in name, f"chained parameter in {template}"
                base, _, modifier = name.partition(":")
                assert modifier in ("", "in"), template
                prefix = re.match(r"^([a-z]{2})\d", value)
                assert prefix is None or prefix.group(1) in ("eq", "lt", "gt", "ge", "le"), template


def test_cc6_configuration_options(client):
    for s in client.get("/cds-services").get_json()["services"]:
        options = s["extension"]["davinci-crd.configuration-options"]
        for key in ("code", "name", "description"):
            values = [o[key] for o in options]
            assert len(values) == len(set(values)), key
        for o in options:
            assert o["type"] in ("boolean", "integer")
            assert type(o["default"]) is {"boolean": bool, "integer": int}[o["type"]]
        booleans = {o["code"] for o in options if o["type"] == "boolean"}
        # one boolean per card topic the service can emit
        assert set(REGISTRY.by_id(s["id"]).topics) <= booleans
        assert any(o["code"] == "max-cards" and o["type"] == "integer" for o in options)


def test_cc6_every_topic_the_renderer_emits_has_an_option():
    """The renderer's topic list must be covered by discovery's options."""
    import cds_service.render as render

    assert set(render.TOPIC_CODES) == set(CARD_TOPICS)


def test_cc7_versions_match_the_crd_regex(client):
    for s in client.get("/cds-services").get_json()["services"]:
        versions = s["extension"]["davinci-crd.version"]
        assert versions and all(re.fullmatch(r"[1-9]\d*\.[1-9]\d*", v) for v in versions)


def test_cc8_discovery_with_and_without_jwt(app, client, es_key, settings):
    token = tjwt.sign(es_key, ISS, settings.base_url + "/cds-services")
    assert client.get("/cds-services").status_code == 200
    assert client.get("/cds-services", headers=tjwt.bearer(token)).status_code == 200


def test_cc8_discovery_can_require_a_jwt(app, es_key):
    strict = create_app(replace(state.of(app).settings, discovery_requires_jwt=True))
    http = strict.test_client()
    base = state.of(strict).settings.base_url
    assert http.get("/cds-services").status_code == 401
    ok = http.get("/cds-services", headers=tjwt.bearer(tjwt.sign(es_key, ISS, base + "/cds-services")))
    assert ok.status_code == 200
