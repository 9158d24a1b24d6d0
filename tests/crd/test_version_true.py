"""Version-true CRD answers (CRD 2.0.1 / 2.1.0 / 2.2.1 ext-coverage-information, its value sets and
the card-type value set; CRD 2.2 dev-1..3 requestedVersion): each response holds only what the
answered version defines.

- The data painpa answers from is pinned here to the IG facts that differ between versions, read
  from the HL7/davinci-crd FSH at tags 2.0.1, 2.1.0 and 2.2.1 (a wrong transcription fails here,
  not only in the walk).
- Every golden scenario (tests/golden) is rendered for order-sign and order-select at every
  answered version and walked; the stored golden responses are walked at the version they were
  stored for.
- Every public example request (shared/fixtures/external) is sent to the service at every version,
  with its FHIR server pointed at a fixture FHIR server holding the Inferno example patient and
  coverage, and each 200 response is walked.
- The version comes from the request, else from the client's registration, else is 2.0.1; an
  unanswered requestedVersion is a 400 naming the answered ones.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from cds_service import clients, state
from cds_service.policy.engine import evaluate
from cds_service.render import render_response
from cds_service.render.versions import answered, answered_version, vocabulary
from tests.crd.version_walk import coverage_extensions, problems
from tests.policy.scenarios import matrix
from tests.support import jwt as tjwt
from tests.support.fake_smart_link import fake_smart_link
from tests.support.fhir_builders import TODAY
from tests.support.fhir_server import FhirFixture
from tests.support.hook_requests import EXTERNAL, ISS, SELECT, SIGN
from tests.support.procs import free_port, running

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
INFERNO = EXTERNAL / "inferno-framework__davinci-crd-test-kit"
SERVICES = {"order-select": SELECT, "order-sign": SIGN, "appointment-book": "painpa-appointment-book"}
REQUESTED = {"2.0.1": None, "2.1": "2.1", "2.2": "2.2"}   # how a request asks for each answered version


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


FILES = sorted(EXTERNAL.rglob("*.json"))
HOOK_FILES = [p for p in FILES if isinstance(_json(p), dict) and "hook" in _json(p)]
CONTEXT_FILES = [p for p in FILES if isinstance(_json(p), dict) and "hook" not in _json(p)
                 and isinstance(_json(p).get("context"), dict)]


def test_the_vocabulary_is_the_igs():
    v201, v21, v22 = (vocabulary(v) for v in ("2.0.1", "2.1", "2.2"))
    assert answered() == ("2.0.1", "2.1", "2.2")
    # indeterminate: 2.2 only (FHIR-55799)
    assert "indeterminate" not in v201.codes["covered"] | v21.codes["covered"] | v21.codes["pa-needed"]
    assert {"indeterminate"} <= v22.codes["covered"] & v22.codes["pa-needed"] & v22.codes["doc-needed"]
    # doc-needed: both (2.0.1) became patient (2.1+), 0..1 became 0..*
    assert "both" in v201.codes["doc-needed"] and "both" not in v21.codes["doc-needed"] | v22.codes["doc-needed"]
    assert "patient" not in v201.codes["doc-needed"] and "patient" in v21.codes["doc-needed"]
    assert "doc-needed" in v201.repeats_once and "doc-needed" not in v22.repeats_once
    # sub-extensions: response removed and expiry-date added in 2.1 (FHIR-46460, FHIR-43182)
    assert v201.allows("response") and not v21.allows("response") and not v22.allows("response")
    assert not v201.allows("expiry-date") and v21.allows("expiry-date") and v22.allows("expiry-date")
    assert "category" in v22.detail_sub_extensions and "category" not in v201.detail_sub_extensions
    # detail-code: a reason code until 2.1, an info-needed code in 2.2; technical reason 2.2 only
    assert "detail-code" in v201.reason_codes and "detail-code" in v22.codes["info-needed"]
    assert "detail-code" not in v201.codes["info-needed"] and "technical" not in v201.reason_codes | v21.reason_codes
    # doc-purpose is the same five codes in every version
    assert v201.codes["doc-purpose"] == v21.codes["doc-purpose"] == v22.codes["doc-purpose"]
    # card topics: temp system until 2.1; THO from 2.2; unsolicited-determ from 2.1
    assert v201.topic_system == v21.topic_system == "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
    assert v22.topic_system == "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
    assert "unsolicited-determ" not in v201.topics and "unsolicited-determ" in v21.topics
    assert v201.topic("unsolicited-determ") == "coverage-info"
    # no determination: no indeterminate before 2.2
    assert v201.no_determination == v21.no_determination == {"covered": "conditional", "pa-needed": "conditional",
                                                              "info-needed": "OTH"}
    assert v22.no_determination == {"covered": "indeterminate", "pa-needed": "indeterminate"}


def test_version_resolution():
    assert answered_version(None) == "2.0.1"
    assert answered_version(None, "2.2") == "2.2"
    assert answered_version("2.1", "2.2") == "2.1"     # the request wins over the registration
    assert answered_version("2.0") == "2.0.1"


def test_the_walk_catches_another_versions_codes(policies):
    scenario = next(s for s in matrix() if s.name == "esi-wiser-met-pa-satisfied")
    resp = _render(policies, scenario, "order-sign", "2.2")
    assert any(s["url"] == "expiry-date" for e in coverage_extensions(resp) for s in e["extension"])
    found = problems(resp, "2.0.1")
    assert any("expiry-date" in p for p in found) and any("topic system" in p for p in found)


def _render(policies, scenario, hook: str, version: str) -> dict:
    orders, patient = scenario.build()
    dets = evaluate(orders, patient.record(), policies, TODAY)
    return render_response(dets, orders, hook=hook, crd_version=version, config={}, today=TODAY,
                           smart_link=fake_smart_link)


@pytest.mark.parametrize("version", answered())
def test_every_golden_scenario_at_every_version(policies, version):
    for scenario in matrix():
        for hook in ("order-sign", "order-select"):
            resp = _render(policies, scenario, hook, version)
            assert problems(resp, version) == [], (scenario.name, hook)
            assert len(coverage_extensions(resp)) == 1, (scenario.name, hook)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_stored_goldens_hold_only_their_versions_codes(path):
    stored = json.loads(path.read_text())
    walked = [(key, key.split("/")[1]) for key in stored if "/" in key]
    assert walked
    for key, version in walked:
        assert problems(stored[key], version) == [], key


# ---- the public example requests, through the service -------------------------------------------

@pytest.fixture(scope="module")
def inferno_fhir(tmp_path_factory):
    """A fixture FHIR server holding the Inferno CRD kit's example Patient and Coverage (Patient/example,
    Coverage/coverage_example), as the FHIR server a tester points Inferno's requests at."""
    data = tmp_path_factory.mktemp("inferno") / "data.json"
    data.write_text(json.dumps([_json(INFERNO / "crd_patient_example.json"),
                                _json(INFERNO / "crd_coverage_example.json")]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(port), "--data", str(data)]
    with running(cmd, ready_url=f"{base}/fhir/metadata"):
        yield FhirFixture(base)


@pytest.fixture
def inferno_app(app, es_key, rs_key, inferno_fhir):
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(es_key, rs_key), fhir_bases=[inferno_fhir.base])
    return app


def at_version(body: dict, version: str, fhir_base: str) -> dict:
    body = copy.deepcopy(body)
    ext = dict(body.get("extension") or {})
    ext.pop("davinci-crd.requestedVersion", None)
    if REQUESTED[version]:
        ext["davinci-crd.requestedVersion"] = REQUESTED[version]
    body["extension"] = ext
    body["fhirServer"] = fhir_base
    return body


def _bodies() -> list[tuple[str, dict]]:
    out = [(f"{p.parent.name}/{p.name}", _json(p)) for p in HOOK_FILES]
    for p in CONTEXT_FILES:
        context = _json(p)["context"]
        hook = "order-select" if "selections" in context else "order-sign"
        out.append((f"{p.parent.name}/{p.name}", {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                                                  "context": context}))
    return out


BODIES = _bodies()


@pytest.mark.parametrize("version", answered())
@pytest.mark.parametrize("name_body", BODIES, ids=[n for n, _ in BODIES])
def test_every_public_request_is_answered_in_its_version(inferno_app, caller, inferno_fhir, name_body, version):
    _, body = name_body
    sent = at_version(body, version, inferno_fhir.base)
    resp = caller.post(SERVICES.get(body["hook"], SIGN), sent)
    assert resp.status_code < 500, resp.get_data(as_text=True)
    if resp.status_code == 200:
        assert problems(resp.get_json(), version) == []


@pytest.mark.parametrize("version", answered())
@pytest.mark.parametrize("preset", ["order_sign_hook_request.json", "order_select_hook_request.json"])
def test_inferno_presets_get_coverage_information_for_every_order(inferno_app, caller, inferno_fhir, preset, version):
    body = _json(INFERNO / preset)
    resp = caller.post(SERVICES[body["hook"]], at_version(body, version, inferno_fhir.base))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = resp.get_json()
    entries = [e["resource"] for e in body["context"]["draftOrders"]["entry"]]
    wanted = {f"{r['resourceType']}/{r['id']}" for r in entries}
    if body["hook"] == "order-select":
        wanted &= set(body["context"]["selections"])
    answered_refs = {f"{a['resource']['resourceType']}/{a['resource']['id']}" for a in out["systemActions"]}
    assert wanted and answered_refs == wanted
    nd = vocabulary(version).no_determination
    for ext in coverage_extensions(out):
        values = {s["url"]: next(v for k, v in s.items() if k.startswith("value")) for s in ext["extension"]}
        assert values["covered"] == nd["covered"] != "covered" and values["pa-needed"] == nd["pa-needed"]
        assert values["coverage"] == {"reference": "Coverage/coverage_example"}
        assert "no determination" in values["reason"]["text"]
    assert problems(out, version) == []


@pytest.mark.parametrize(("registered", "expected"), [(None, "2.0.1"), ("2.2", "2.2"), ("2.1", "2.1")])
def test_a_clients_registered_version_answers_requests_that_name_none(app, caller, es_key, rs_key, inferno_fhir,
                                                                     registered, expected):
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(es_key, rs_key), fhir_bases=[inferno_fhir.base],
                       crd_version=registered)
    body = at_version(_json(INFERNO / "order_sign_hook_request.json"), "2.0.1", inferno_fhir.base)
    out = caller.post(SIGN, body).get_json()
    (ext,) = coverage_extensions(out)[:1]
    covered = next(s["valueCode"] for s in ext["extension"] if s["url"] == "covered")
    assert covered == vocabulary(expected).no_determination["covered"]
    asked = at_version(body, "2.2", inferno_fhir.base)          # a request naming a version wins
    ext = coverage_extensions(caller.post(SIGN, asked).get_json())[0]
    assert next(s["valueCode"] for s in ext["extension"] if s["url"] == "covered") == "indeterminate"


def test_an_unanswered_requested_version_is_a_400_naming_the_answered_ones(inferno_app, caller, inferno_fhir):
    body = at_version(_json(INFERNO / "order_sign_hook_request.json"), "2.0.1", inferno_fhir.base)
    body["extension"]["davinci-crd.requestedVersion"] = "3.1"
    resp = caller.post(SIGN, body)
    assert resp.status_code == 400
    text = json.dumps(resp.get_json())
    assert resp.get_json()["resourceType"] == "OperationOutcome" and "2.0.1" in text and "2.2" in text


def test_clients_add_refuses_an_unanswered_version(app):
    with pytest.raises(clients.ClientError, match="2.0.1"):
        clients.add_client(state.of(app).db, iss="https://x.example", jwks_url="https://x.example/jwks",
                           fhir_bases=["https://x.example/fhir"], crd_version="1.0")


def test_painpa_clients_add_crd_version(tmp_path):
    import os
    import subprocess

    from tests.support.procs import ROOT, VENV_BIN

    env = {**os.environ, "PAINPA_HOME": str(tmp_path)}

    def painpa(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "painpa"), "clients", *args], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=60)

    base = ["add", "--iss", "https://ehr.example.org/crd", "--jwks-url", "https://ehr.example.org/jwks.json",
            "--fhir-base", "https://ehr.example.org/fhir"]
    assert painpa(*base, "--crd-version", "2.2").returncode == 0
    listed = json.loads(painpa("list", "--json").stdout)
    assert [c["crd_version"] for c in listed] == ["2.2"]
    bad = painpa(*base, "--replace", "--crd-version", "2.3")
    assert bad.returncode == 2 and "2.0.1, 2.1, 2.2" in bad.stderr
