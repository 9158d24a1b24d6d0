"""Import of Da Vinci PAS ClaimResponses by standard FHIR search from a real FHIR server process
(standards.md §4.2: reviewAction A1/A3/A4 per item, processNote reasons, CARC in adjudication.reason):
the decisions land in the store with payer, plan, clinician, decision time and mapped reasons."""

from __future__ import annotations

import json
import sys
from datetime import date

import pytest
import requests
from sqlalchemy import select

from cds_service.clients import add_client
from cds_service.config import Settings
from cds_service.denials.imports import ImportFailed, import_pas
from cds_service.denials.pas_import import decisions_from_resources, fetch_resources
from cds_service.denials.programs import program_resolver
from cds_service.denials.tables import Decision
from cds_service.policy.loader import load_policies
from tests.support.denial_data import DATA, SALT
from tests.support.procs import free_port, running

POLICIES = load_policies()


@pytest.fixture
def fhir(tmp_path):
    port = free_port()
    cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(port),
           "--data", str(DATA / "pas-decisions.json"), "--page-size", "2"]
    with running(cmd, ready_url=f"http://127.0.0.1:{port}/fhir/metadata"):
        yield f"http://127.0.0.1:{port}/fhir"


def _register(db, base):
    add_client(db, iss="https://ehr.example", fhir_bases=[base], jwks_url="https://ehr.example/jwks.json")


def test_pas_decisions_are_parsed_per_item():
    resources = [e["resource"] for e in json.loads((DATA / "pas-decisions.json").read_text())["entry"]]
    records, errors = decisions_from_resources(resources, "http://x/fhir")
    assert errors == []
    got = sorted((r.code, r.outcome, r.decision_hours, r.expedited, [x.text for x in r.reasons]) for r in records)
    assert got == [
        ("62323", "denied", 18.0, True, ["Fewer than 6 weeks of physical therapy documented Not certified"]),
        ("64483", "affirmed", 48.0, False, []),
        ("64483", "affirmed", 72.0, False, []),
        ("64483", "pended", 24.0, False, []),
        ("64484", "denied", 72.0, False, ["Second level not supported by imaging"]),
    ]
    assert {(r.payer, r.plan, r.clinician, r.clinician_label) for r in records} == {
        ("Example Advantage Plan", "Gold HMO", "1999999984", "Jordan Lee")}


def test_import_from_a_registered_fhir_server(db, fhir):
    _register(db, fhir)
    settings = Settings.from_env(env={}, home="/tmp/unused-home")
    report = import_pas(db, fhir, salt=SALT, settings=settings, policies=POLICIES)
    assert (report.added, report.errors) == (5, [])
    again = import_pas(db, fhir, salt=SALT, settings=settings, policies=POLICIES)
    assert (again.added, again.duplicates) == (0, 5)
    with db.session() as s:
        rows = {(d.code, d.outcome): d for d in s.scalars(select(Decision))}
        denied = rows[("62323", "denied")]
        assert denied.reasons[0].requirement == "esi.conservative-care"
        assert denied.reasons[0].carc == "50"
        assert rows[("64484", "denied")].reasons[0].requirement == "esi.imaging"
        assert all(d.patient_hash and "p1" not in d.patient_hash for d in rows.values())
    log = requests.get(fhir.replace("/fhir", "/_log"), timeout=5).json()
    assert any(entry["path"].endswith("/ClaimResponse") for entry in log)


def test_unregistered_server_is_refused_before_any_request(db, fhir):
    with pytest.raises(ImportFailed, match="not a registered FHIR base"):
        import_pas(db, fhir, salt=SALT, settings=Settings.from_env(env={}, home="/tmp/unused-home"),
                   policies=POLICIES)
    assert requests.get(fhir.replace("/fhir", "/_log"), timeout=5).json() == []


def test_next_link_to_another_host_is_not_followed(fhir):
    requests.post(fhir.replace("/fhir", "/_control"), json={"foreign_next": ["ClaimResponse"]}, timeout=5)
    resources = fetch_resources(fhir, count=2)
    assert len([r for r in resources if r["resourceType"] == "ClaimResponse"]) == 2  # page 1 only
    assert all("evil.invalid" not in e["path"] for e in requests.get(fhir.replace("/fhir", "/_log"), timeout=5).json())


def test_program_is_named_from_coverage_kind_and_code():
    resources = [e["resource"] for e in json.loads((DATA / "pas-decisions.json").read_text())["entry"]]
    program_of = program_resolver(POLICIES, date(2026, 11, 29))
    records, _ = decisions_from_resources(resources, "http://x/fhir", program_of)
    assert {r.program for r in records} == {""}  # an MA plan with no SOPT type: named by payer and plan
    for r in resources:
        if r["resourceType"] == "Coverage":
            r["type"] = {"coding": [{"system": "https://nahdo.org/sopt", "code": "1"}]}
    records, _ = decisions_from_resources(resources, "http://x/fhir", program_of)
    assert {r.program for r in records} == {"WISeR"}
