"""Third-party clients against a real ``painpa sandbox`` process over HTTP (docs/sandbox-testing.md):

* fhirclient (PyPI) registered with ``painpa sandbox apps add --public`` completes a SMART App Launch
  2.2 standalone launch with PKCE (app-launch.md §"Obtain authorization code", §"PKCE") and reads
  Patient and Condition;
* a backend-services client built on authlib's client (RFC 7523 ``private_key_jwt``) registered
  with ``--jwks-file`` gets a ``client_credentials`` token (backend-services.md §"Obtain access token")
  and submits to the payer's PAS API; without a token the payer answers 401 with an OperationOutcome
  and ``WWW-Authenticate`` (RFC 6750 §3);
* RFC 7591 dynamic registration at the endpoint the smart-configuration advertises, round trip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from html import unescape
from urllib.parse import urlencode

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from fhirclient import client as fhir_client
from fhirclient.models.condition import Condition
from fhirclient.models.patient import Patient

from sandbox.seed.scenarios import SCENARIOS
from tests.sandbox.helpers import new_key, pkce, query
from tests.support.procs import VENV_BIN

PAS_SCOPES = "system/Claim.cr system/ClaimResponse.rs"


def painpa(home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "painpa"), "sandbox", "apps", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PAINPA_HOME": str(home)})


def _jwks_file(tmp_path, key) -> str:
    path = tmp_path / f"{key.kid}.jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    return str(path)


def _backend_token(base: str, client_id: str, key, scope: str = PAS_SCOPES) -> dict:
    """A client_credentials token as a third-party backend service gets it: discovery, then authlib's
    OAuth2Session with its PrivateKeyJWT client authentication (assertion lifetime ≤ 5 minutes)."""
    conf = requests.get(f"{base}/payer/.well-known/smart-configuration", timeout=10).json()
    assert "client_credentials" in conf["grant_types_supported"]
    endpoint = conf["token_endpoint"]
    auth = PrivateKeyJWT(endpoint, alg="ES384", claims={"exp": int(time.time()) + 240},
                         headers={"kid": key.kid})
    session = OAuth2Session(client_id, key, token_endpoint_auth_method=auth, scope=scope)
    try:
        return session.fetch_token(endpoint, grant_type="client_credentials")
    finally:
        session.close()


def _pas_bundle(pid: str) -> dict:
    """A minimal PAS request Bundle: the Claim first (PAS spec), the Patient beside it."""
    claim = {"resourceType": "Claim", "status": "active", "use": "preauthorization",
             "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
             "patient": {"reference": f"Patient/{pid}"}, "created": "2026-12-01T10:00:00Z",
             "insurer": {"reference": "Organization/payer-medicare"}, "provider": {"display": "Dr Lee"},
             "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
             "identifier": [{"system": "urn:test:claims", "value": str(uuid.uuid4())}],
             "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/{pid}-cov"}}],
             "item": [{"sequence": 1, "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt",
                                                                      "code": "64483"}]}}]}
    patient = {"resourceType": "Patient", "id": pid, "name": [{"family": "Test"}], "gender": "female",
               "address": [{"state": "TX"}]}
    coverage = {"resourceType": "Coverage", "id": f"{pid}-cov", "status": "active",
                "beneficiary": {"reference": f"Patient/{pid}"}, "payor": [{"reference": "Organization/payer-medicare"}]}
    insurer = {"resourceType": "Organization", "id": "payer-medicare", "name": "Medicare Part A/B (MAC)"}
    return {"resourceType": "Bundle", "type": "collection", "timestamp": "2026-12-01T10:00:00Z",
            "identifier": {"system": "urn:test:bundles", "value": str(uuid.uuid4())},
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in (claim, patient, coverage, insurer)]}


def _submit(base: str, headers: dict) -> requests.Response:
    return requests.post(f"{base}/payer/Claim/$submit", json=_pas_bundle(SCENARIOS[0].pid), timeout=30,
                         headers={"Content-Type": "application/fhir+json", **headers})


def test_backend_services_client_gets_a_token_and_submits_to_the_payer(sandbox_server, tmp_path):
    base, key, client_id = sandbox_server.base, new_key(), f"bk-{uuid.uuid4().hex[:8]}"
    done = painpa(sandbox_server.home, "add", "--client-id", client_id, "--jwks-file", _jwks_file(tmp_path, key),
                  "--scope", PAS_SCOPES, "--name", "PAS test client")
    assert done.returncode == 0, done.stderr
    assert "backend services" in done.stdout and "client_credentials" in done.stdout

    # Without a token: 401, an OperationOutcome, and the RFC 6750 challenge.
    refused = _submit(base, {})
    assert refused.status_code == 401
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert refused.json()["issue"][0]["code"] == "login"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer realm=")
    forged = _submit(base, {"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401 and 'error="invalid_token"' in forged.headers["WWW-Authenticate"]

    token = _backend_token(base, client_id, key)
    assert token["token_type"].lower() == "bearer"
    assert set(token["scope"].split()) == set(PAS_SCOPES.split())
    assert int(token["expires_in"]) <= 300 and "refresh_token" not in token   # backend-services.md
    answered = _submit(base, {"Authorization": f"Bearer {token['access_token']}"})
    assert answered.status_code == 200, answered.text
    first = answered.json()["entry"][0]["resource"]
    assert first["resourceType"] == "ClaimResponse" and first["use"] == "preauthorization"

    # Removing the client revokes what it holds.
    assert painpa(sandbox_server.home, "remove", client_id).returncode == 0
    assert _submit(base, {"Authorization": f"Bearer {token['access_token']}"}).status_code == 401


def test_backend_scopes_are_only_the_pre_authorized_system_scopes(sandbox_server, tmp_path):
    base, key, client_id = sandbox_server.base, new_key(), f"bk-{uuid.uuid4().hex[:8]}"
    assert painpa(sandbox_server.home, "add", "--client-id", client_id, "--jwks-file", _jwks_file(tmp_path, key),
                  "--scope", "system/Patient.rs").returncode == 0
    # A token without a Claim scope: 403 at the payer, naming the scope it lacks.
    token = _backend_token(base, client_id, key, scope="system/Patient.rs")
    forbidden = _submit(base, {"Authorization": f"Bearer {token['access_token']}"})
    assert forbidden.status_code == 403 and 'error="insufficient_scope"' in forbidden.headers["WWW-Authenticate"]
    assert forbidden.json()["issue"][0]["code"] == "forbidden"
    # Scopes outside the registration, or user-level ones, are not granted.
    with pytest.raises(Exception, match="invalid_scope"):
        _backend_token(base, client_id, key, scope="system/Claim.cr")
    with pytest.raises(Exception, match="invalid_scope"):
        _backend_token(base, client_id, key, scope="user/Patient.rs")


def test_dynamic_registration_round_trip(sandbox_server):
    base, key = sandbox_server.base, new_key()
    conf = requests.get(f"{base}/fhir/.well-known/smart-configuration", timeout=10).json()
    endpoint = conf["registration_endpoint"]
    metadata = {"client_name": "Dynamic PAS client", "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.as_dict(private=False)]},
                "scope": PAS_SCOPES}
    created = requests.post(endpoint, json=metadata, timeout=10)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["client_id"] and "client_secret" not in body      # keys, not a secret
    assert body["grant_types"] == ["client_credentials"] and body["scope"] == PAS_SCOPES

    listed = json.loads(painpa(sandbox_server.home, "list", "--json").stdout)
    mine = next(a for a in listed if a["client_id"] == body["client_id"])
    assert mine["registered_by"] == "dynamic" and mine["kind"] == "backend services"

    token = _backend_token(base, body["client_id"], key)
    assert _submit(base, {"Authorization": f"Bearer {token['access_token']}"}).status_code == 200

    # A public app registers too; a JWKS URL (the server would fetch a caller's URL) does not.
    public = requests.post(endpoint, timeout=10, json={"client_name": "SPA", "redirect_uris": ["http://127.0.0.1:1/cb"],
                                                       "token_endpoint_auth_method": "none",
                                                       "scope": "launch/patient patient/*.rs"})
    assert public.status_code == 201 and public.json()["token_endpoint_auth_method"] == "none"
    keyless = {k: v for k, v in metadata.items() if k != "jwks"}
    by_url = requests.post(endpoint, timeout=10, json={**keyless, "jwks_uri": "http://169.254.169.254/keys"})
    assert by_url.status_code == 400 and by_url.json()["error"] == "invalid_client_metadata"
    assert "jwks_uri" in by_url.json()["error_description"]
    impossible = requests.post(endpoint, timeout=10, json={**metadata, "scope": "patient/*.rs"})
    assert impossible.status_code == 400 and "client_credentials" in impossible.json()["error_description"]


def test_fhirclient_standalone_launch_with_pkce_reads_patient_and_conditions(sandbox_server):
    base = sandbox_server.base
    redirect = "http://127.0.0.1:9/fhirclient/callback"   # the Location is read, nothing listens there
    client_id = f"fhirclient-{uuid.uuid4().hex[:6]}"
    done = painpa(sandbox_server.home, "add", "--client-id", client_id, "--redirect-uri", redirect, "--public",
                  "--scope", "launch/patient openid fhirUser patient/*.rs", "--name", "fhirclient test app")
    assert done.returncode == 0, done.stderr

    smart = fhir_client.FHIRClient(settings={"app_id": client_id, "api_base": f"{base}/fhir",
                                             "redirect_uri": redirect, "scope": "openid fhirUser patient/*.rs"})
    assert smart.desired_scope.startswith("launch/patient ")   # standalone: fhirclient asks for a patient
    authorize_url = smart.authorize_url
    assert "code_challenge=" in authorize_url and "code_challenge_method=S256" in authorize_url

    # The authorization server's patient picker, as a browser would get and submit it.
    picker = requests.get(authorize_url, timeout=10, allow_redirects=False)
    assert picker.status_code == 200 and "fhirclient test app" in picker.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', picker.text))
    pid = re.search(r'name="patient" value="([^"]+)"', picker.text).group(1)
    chosen = requests.post(f"{base}/auth/authorize", timeout=10, allow_redirects=False,
                           data={**{k: unescape(v) for k, v in fields.items()}, "patient": pid})
    assert chosen.status_code == 302, chosen.text
    callback = chosen.headers["Location"]
    assert callback.startswith(redirect) and "code=" in callback

    smart.handle_callback(callback)   # fhirclient checks state and exchanges the code with its verifier
    assert smart.ready and smart.patient_id == pid
    patient = Patient.read(pid, smart.server)
    assert patient.id == pid and patient.name
    conditions = list(Condition.where(struct={"patient": pid}).perform_resources_iter(smart.server))
    assert conditions and all(c.subject.reference.endswith(f"Patient/{pid}") for c in conditions)

    # The same code again, or a verifier that does not match, gets nothing (PKCE is enforced).
    _, challenge = pkce()
    params = {**{k: unescape(v) for k, v in fields.items()}, "patient": pid, "code_challenge": challenge}
    again = requests.get(f"{base}/auth/authorize?{urlencode(params)}", timeout=10, allow_redirects=False)
    code = query(again.headers["Location"])["code"]
    wrong = requests.post(f"{base}/auth/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": client_id,
        "code_verifier": "x" * 64})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_fhirclient_ehr_launch_from_the_sandbox(sandbox_server):
    """EHR launch (app-launch.md §"Launch App: EHR Launch"): the sandbox opens the registered launch
    URL with iss and launch; fhirclient asks for ``launch`` and gets the patient without a picker."""
    base = sandbox_server.base
    launch_uri, redirect = "http://127.0.0.1:9/fhirclient/launch", "http://127.0.0.1:9/fhirclient/callback"
    client_id = f"fhirclient-ehr-{uuid.uuid4().hex[:6]}"
    assert painpa(sandbox_server.home, "add", "--client-id", client_id, "--redirect-uri", redirect, "--public",
                  "--launch-uri", launch_uri, "--scope", "launch patient/*.rs").returncode == 0
    pid = SCENARIOS[1].pid

    opened = requests.get(f"{base}/auth/launch/{client_id}?patient={pid}", timeout=10, allow_redirects=False)
    assert opened.status_code == 302 and opened.headers["Location"].startswith(launch_uri + "?")
    launch = query(opened.headers["Location"])
    assert launch["iss"] == f"{base}/fhir" and launch["launch"]

    smart = fhir_client.FHIRClient(settings={"app_id": client_id, "api_base": launch["iss"], "redirect_uri": redirect,
                                             "launch_token": launch["launch"], "scope": "patient/*.rs"})
    assert smart.desired_scope.split()[0] == "launch"
    authorized = requests.get(smart.authorize_url, timeout=10, allow_redirects=False)
    assert authorized.status_code == 302 and authorized.headers["Location"].startswith(redirect)
    smart.handle_callback(authorized.headers["Location"])
    assert smart.patient_id == pid and Patient.read(pid, smart.server).id == pid
    # Unknown app or patient: a page that says so, not a redirect.
    assert requests.get(f"{base}/auth/launch/nobody?patient={pid}", timeout=10).status_code == 404
    assert requests.get(f"{base}/auth/launch/{client_id}?patient=nobody", timeout=10).status_code == 404
