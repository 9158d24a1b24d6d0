"""appointment-book (CRD hooks.md "appointment-book", a primary hook: hook-26 coverage information on
every invocation; cards.md: an Appointment basedOn a ServiceRequest is annotated on the
ServiceRequest). The appointment's order goes through the order-sign readiness assessment on the
appointment's date: an affirmed UTN still valid that day gives no warning; one that lapses before
it gives a warning that names the expiry, and the coverage-information no longer says satisfied.

The handler is called as ``painpa evaluate`` calls it (prefetch only, a fixed "today"), so the
dates are the scenario builders'; the service over HTTP is covered at the end."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest

from cds_service.config import Settings
from cds_service.fhir.queries import QUERIES
from cds_service.hooks.request import parse_request
from cds_service.hooks.service import HookCall
from cds_service.render.invariants import violations
from cds_service.render.words import when
from cds_service.services import REGISTRY
from tests.crd.version_walk import problems
from tests.policy.scenarios import Scenario
from tests.support import fhir_builders as b
from tests.support.hook_requests import EXTERNAL
from tests.support.response_checks import coverage_infos

SERVICE = "painpa-appointment-book"
UTN_END = date(2027, 3, 9)      # A1 decided DOS-30 days, WISeR validity: the golden's "valid until"


def _bundle(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _prefetch(resources: list[dict]) -> dict:
    """Every discovery prefetch key answered from ``resources`` (an empty search where none match),
    plus the Locations as CRD 2.2's standard ``locations`` key carries them."""
    out: dict = {"locations": _bundle([r for r in resources if r["resourceType"] == "Location"])}
    for q in QUERIES:
        hits = [r for r in resources if r["resourceType"] == q.resource_type]
        if q.key == "patient":
            out["patient"] = hits[0]
        elif q.key != "user":
            out[q.key] = _bundle(hits)
    return out


def _body(order: dict, resources: list[dict], start: str, *, version: str | None = None) -> dict:
    signed = {**order, "status": "active"}
    appointment = {"resourceType": "Appointment", "id": "appt-1", "status": "proposed",
                   "basedOn": [{"reference": f"ServiceRequest/{order['id']}"}], "start": start,
                   "participant": [{"actor": {"reference": "Patient/pt-1"}, "status": "accepted"}]}
    body = {"hook": "appointment-book", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/dr-1", "patientId": "pt-1",
                        "appointments": {"resourceType": "Bundle", "type": "collection",
                                         "entry": [{"resource": appointment}]}},
            "prefetch": _prefetch([*resources, signed])}
    if version:
        body["extension"] = {"davinci-crd.requestedVersion": version}
    return body


def _call(body: dict, policies, today: date = b.TODAY) -> dict:
    """The handler's answer, checked to hold only the answered CRD version's vocabulary."""
    service = REGISTRY.by_id(SERVICE)
    req = parse_request(json.loads(json.dumps(body)), service.hook)
    call = HookCall(service=service, request=req, settings=Settings.from_env(env={}), db=None, policies=policies,
                    today=today)
    response = service.handler(call).response
    assert problems(response, req.crd_version) == []
    return response


def _satisfied_chart():
    orders, patient = Scenario("esi", "wiser", "met", "satisfied").build()
    return orders[0], patient.resources


def _ci(response: dict) -> tuple[dict, dict]:
    (action, ext), = coverage_infos(response)
    return action, {s["url"]: next(v for k, v in s.items() if k.startswith("value")) for s in ext["extension"]}


@pytest.mark.parametrize("version", [None, "2.2"])
def test_affirmed_utn_valid_on_the_appointment_date_gives_no_warning(policies, version):
    order, resources = _satisfied_chart()
    response = _call(_body(order, resources, "2026-12-20T09:00:00-06:00", version=version), policies)
    assert [c for c in response["cards"] if c["indicator"] != "info"] == []
    action, ci = _ci(response)
    assert action["resource"]["resourceType"] == "ServiceRequest" and action["resource"]["id"] == order["id"]
    assert ci["pa-needed"] == "satisfied" and ci["satisfied-pa-id"] == "JFA00000000001"
    assert when(date(2026, 12, 20)) in json.dumps(response["cards"])   # the order line names the appointment date


@pytest.mark.parametrize("version", [None, "2.2"])
def test_utn_expiring_before_the_appointment_date_warns(policies, version):
    order, resources = _satisfied_chart()
    response = _call(_body(order, resources, "2027-04-06T09:00:00-05:00", version=version), policies)
    warnings = [c for c in response["cards"] if c["indicator"] == "warning"]
    # one card per order: the summary says the UTN expired, the detail names the day it did
    assert any("UTN expired" in c["summary"] and f"expired {UTN_END.isoformat()}" in c["detail"]
               for c in warnings), warnings
    _, ci = _ci(response)
    assert ci["pa-needed"] == "auth-needed" and "satisfied-pa-id" not in ci


def test_the_update_carries_the_order_as_stored_not_the_appointment_date(policies):
    order, resources = _satisfied_chart()
    response = _call(_body(order, resources, "2027-04-06T09:00:00-05:00"), policies)
    action, _ = _ci(response)
    resource = action["resource"]
    assert resource["occurrenceDateTime"] == order["occurrenceDateTime"]       # only the extension is added
    assert {k: v for k, v in resource.items() if k != "extension"} == {**order, "status": "active"}


def test_missing_documentation_is_named_at_booking(policies):
    orders, patient = Scenario("esi", "wiser", "unmet", "none").build()
    response = _call(_body(orders[0], patient.resources, "2026-12-20"), policies)
    assert any("Conservative" in c["detail"] for c in response["cards"] if c["indicator"] == "warning")
    _, ci = _ci(response)
    assert ci["pa-needed"] == "auth-needed" and ci["doc-needed"] == "clinical"


@pytest.mark.parametrize("version", ["2.0.1", "2.2"])
def test_an_appointment_based_on_no_order_gets_no_determination(policies, version):
    _, patient = Scenario("esi", "wiser", "met", "none").build()
    body = _body(b.order("64483"), patient.resources, "2026-12-20", version=version)
    del body["context"]["appointments"]["entry"][0]["resource"]["basedOn"]
    response = _call(body, policies)
    action, ci = _ci(response)
    assert action["resource"]["resourceType"] == "Appointment"
    expected = "indeterminate" if version == "2.2" else "conditional"
    assert ci["covered"] == expected and ci["pa-needed"] == expected and ci["reason"]["text"]
    ext = coverage_infos(response)[0][1]
    assert violations(ext, version) == []


def test_discovery_lists_appointment_book(client):
    services = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    assert services[SERVICE]["hook"] == "appointment-book"


@pytest.mark.parametrize("path", [EXTERNAL / "HL7__davinci-crd" / "CRDServiceRequest4.json",
                                  EXTERNAL / "inferno-framework__davinci-crd-test-kit" /
                                  "appointment_book_hook_request.json"], ids=lambda p: p.name)
def test_public_appointment_book_examples_are_answered(caller, path):
    resp = caller.post(SERVICE, json.loads(path.read_text()))
    assert resp.status_code < 500, resp.get_data(as_text=True)
    if resp.status_code != 200:
        assert resp.get_json()["resourceType"] == "OperationOutcome"


@pytest.fixture(scope="module")
def chart_with_signed_order(tmp_path_factory):
    """The fixture FHIR server with the bundled example chart (pt-esi-1) and its ESI order, signed."""
    import sys

    from tests.support.fhir_server import FhirFixture
    from tests.support.hook_requests import load, record_resources
    from tests.support.procs import free_port, running

    data = tmp_path_factory.mktemp("appt") / "chart.json"
    data.write_text(json.dumps([*record_resources(), {**load("orders.json")["esi"], "status": "active"}]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tests.support.fhir_server", "--port", str(port), "--data", str(data),
           "--token", "appt-token"]
    with running(cmd, ready_url=f"{base}/fhir/metadata"):
        yield FhirFixture(base)


def test_the_order_is_read_from_the_ehr_with_the_calls_token(app, caller, es_key, rs_key, chart_with_signed_order):
    from sqlalchemy import select

    from cds_service import clients, state
    from cds_service.store.tables import AuditEvent
    from tests.support import jwt as tjwt
    from tests.support.hook_requests import ISS

    fhir = chart_with_signed_order
    clients.add_client(state.of(app).db, iss=ISS, jwks=tjwt.jwks(es_key, rs_key), fhir_bases=[fhir.base],
                       default_state="TX", default_pos="24")
    appointment = {"resourceType": "Appointment", "id": "appt-9", "status": "proposed", "start": "2026-12-22",
                   "basedOn": [{"reference": f"{fhir.base}/ServiceRequest/sr-esi-1"}],
                   "participant": [{"actor": {"reference": "Patient/pt-esi-1"}, "status": "accepted"}]}
    body = {"hook": "appointment-book", "hookInstance": str(uuid.uuid4()), "fhirServer": fhir.base,
            "fhirAuthorization": {"access_token": "appt-token", "token_type": "Bearer", "expires_in": 30,
                                  "scope": "patient/*.rs", "subject": "painpa"},
            "context": {"userId": "PractitionerRole/role-pain-1", "patientId": "pt-esi-1",
                        "appointments": {"resourceType": "Bundle", "type": "collection",
                                         "entry": [{"resource": appointment}]}}}
    fhir.reset()
    resp = caller.post(SERVICE, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    reads = [e for e in fhir.log() if e["path"].endswith("/ServiceRequest/sr-esi-1")]
    assert reads and all(e["token_ok"] for e in reads)
    # The audit row counts every request the EHR saw: the order's read as well as the chart's.
    with state.of(app).db.session() as s:
        audited = s.scalar(select(AuditEvent.fhir_reads).where(AuditEvent.hook_instance == body["hookInstance"]))
    assert audited == len([e for e in fhir.log() if not e["path"].endswith("/metadata")])
    action, ci = _ci(resp.get_json())
    assert (action["resource"]["resourceType"], action["resource"]["id"]) == ("ServiceRequest", "sr-esi-1")
    assert ci["coverage"] == {"reference": "Coverage/cov-mcr-1"} and ci["pa-needed"] == "auth-needed"   # no PA on file
