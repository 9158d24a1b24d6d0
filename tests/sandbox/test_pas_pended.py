"""Pended PAS decisions (Da Vinci PAS 2.2.1 §"Pended authorizations") and their announcement to a
topic-based rest-hook Subscription (Subscriptions R4 Backport IG §"Notifications"; PAS
``PASSubscriptionTopic``): the payer pends by rule (an SCS implant without a psychological
evaluation; a vertebral augmentation without imaging inside the policy's window), makes the decision
final after the configured delay, POSTs the notification to a real HTTP listener, and ``$inquire``
shows the final decision. standards.md §4.6 (pended → final)."""

from __future__ import annotations

import copy
import json
import queue
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, select

from cds_service import state
from sandbox.payer.rules import DEFAULT_RULES
from sandbox.payer.tables import PayerSubscription
from tests.sandbox.test_pas_examples import example, review_actions
from tests.support.procs import free_port

TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
CPT = "http://www.ama-assn.org/go/cpt"
REQUESTOR_NPI = "8189991234"   # UMOExample, the requesting provider of the IG examples


@pytest.fixture
def quick(app):
    """The shipped rules with the final decision 1 s after a pend (the delay is configuration)."""
    rules = json.loads(DEFAULT_RULES.read_text())
    rules["final_after_seconds"] = 1
    (state.of(app).settings.home / "payer-rules.json").write_text(json.dumps(rules))
    return app


@pytest.fixture
def listener():
    """A real HTTP server on a loopback port recording what is POSTed to it."""
    received: queue.Queue = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.put((self.path, dict(self.headers), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def subscription(endpoint: str, *, content: str = "full-resource", org: str | None = REQUESTOR_NPI) -> dict:
    """As the IG's PASSubscriptionExample: the topic, a filter on the requesting organization, rest-hook."""
    body = {"resourceType": "Subscription", "status": "requested", "reason": "PAS decisions for my organization",
            "criteria": TOPIC,
            "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
                        "header": ["Authorization: Bearer listener-secret"],
                        "_payload": {"extension": [{"url": f"{BACKPORT}/backport-payload-content",
                                                    "valueCode": content}]}}}
    if org:
        body["_criteria"] = {"extension": [{"url": f"{BACKPORT}/backport-filter-criteria",
                                            "valueString": f"orgIdentifier={org}"}]}
    return body


def request_for(code: str, *extra: dict, supporting: bool = True) -> dict:
    """The IG's Homecare example Bundle asking for one pain procedure, with ``extra`` resources attached."""
    bundle = example("HomecareAuthorizationBundleExample")
    claim = bundle["entry"][0]["resource"]
    claim["item"] = [{"sequence": 1, "productOrService": {"coding": [{"system": CPT, "code": code}]},
                      "servicedDate": date.today().isoformat()}]
    for i, res in enumerate(extra, start=1):
        url = f"http://example.org/fhir/{res['resourceType']}/{res['id']}"
        bundle["entry"].append({"fullUrl": url, "resource": res})
        if supporting:
            claim.setdefault("supportingInfo", []).append({
                "sequence": i, "category": {"coding": [{
                    "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes", "code": "additionalInformation"}]},
                "valueReference": {"reference": url}})
    return bundle


TRIAL_REPORT = {"resourceType": "DocumentReference", "id": "trial", "status": "current",
                "type": {"text": "SCS trial report: 70% pain relief"}, "description": "Spinal cord stimulator trial report",
                "subject": {"reference": "Patient/SubscriberExample"},
                "content": [{"attachment": {"contentType": "text/plain", "data": "VHJpYWw="}}]}
PSYCH_EVAL = {"resourceType": "Procedure", "id": "psych", "status": "completed",
              "code": {"coding": [{"system": CPT, "code": "90791"}]},
              "subject": {"reference": "Patient/SubscriberExample"}, "performedDateTime": "2026-10-01"}


def mri(days_ago: int) -> dict:
    return {"resourceType": "ImagingStudy", "id": f"mri-{days_ago}", "status": "available",
            "subject": {"reference": "Patient/SubscriberExample"},
            "started": (date.today() - timedelta(days=days_ago)).isoformat(),
            "series": [{"uid": "1.2.3", "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM",
                                                    "code": "MR"}}]}


def kind(notification: dict) -> str:
    status = notification["entry"][0]["resource"]
    return next(p["valueCode"] for p in status["parameter"] if p["name"] == "type")


def action(bundle: dict) -> str:
    return review_actions(bundle["entry"][0]["resource"])[1]["code"]


def inquire(pas_client, request: dict) -> dict:
    inquiry = copy.deepcopy(request)
    inquiry["identifier"] = {"system": "urn:test", "value": "inquiry"}
    resp = pas_client.post("/payer/Claim/$inquire", json=inquiry)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json(force=True)


def test_a_pended_implant_reaches_the_subscriber_and_inquire_when_final(quick, pas_client, listener):
    endpoint, received = listener
    created = pas_client.post("/payer/Subscription", json=subscription(f"{endpoint}/notify"))
    assert created.status_code == 201, created.get_data(as_text=True)
    sub = created.get_json(force=True)
    assert sub["status"] == "active" and created.headers["Location"].endswith(f"/payer/Subscription/{sub['id']}")
    path, _, shake = received.get(timeout=5)           # the handshake came before the 201
    assert path == "/notify" and kind(shake) == "handshake"
    other = pas_client.post("/payer/Subscription", json=subscription(f"{endpoint}/other", org="0000000000"))
    assert other.status_code == 201 and received.get(timeout=5)[0] == "/other"

    request = request_for("63685", TRIAL_REPORT)      # documented, but no psychological evaluation
    pended = pas_client.post("/payer/Claim/$submit", json=request).get_json(force=True)
    cr = pended["entry"][0]["resource"]
    assert action(pended) == "A4" and cr["outcome"] == "queued" and "preAuthRef" not in cr
    assert "psychological evaluation" in cr["processNote"][0]["text"]
    assert action(inquire(pas_client, request)) == "A4"   # before the delay: still pended

    path, headers, note = received.get(timeout=15)
    assert path == "/notify" and headers["Authorization"] == "Bearer listener-secret"
    assert kind(note) == "event-notification"
    Bundle.model_validate(note)
    assert note["type"] == "history"
    status = note["entry"][0]["resource"]
    params = {p["name"]: p for p in status["parameter"]}
    assert params["topic"]["valueCanonical"] == TOPIC and params["type"]["valueCode"] == "event-notification"
    assert params["subscription"]["valueReference"]["reference"].endswith(f"/Subscription/{sub['id']}")
    assert params["events-since-subscription-start"]["valueString"] == "1"
    event = {p["name"]: p for p in params["notification-event"]["part"]}
    focus = event["focus"]["valueReference"]["reference"]
    final = note["entry"][1]["resource"]                  # full-resource: the PAS response Bundle
    assert note["entry"][1]["fullUrl"] == focus and final["entry"][0]["resource"]["id"] == cr["id"]
    assert action(final) == "A1" and final["entry"][0]["resource"]["preAuthRef"]
    assert received.empty()                               # the other organization's subscription heard nothing

    now = inquire(pas_client, request)
    assert action(now) == "A1" and now["entry"][0]["resource"]["preAuthRef"] == final["entry"][0]["resource"]["preAuthRef"]
    read = pas_client.get(f"/payer/Bundle/{cr['id']}").get_json(force=True)
    assert action(read) == "A1"
    status = pas_client.get(f"/payer/Subscription/{sub['id']}/$status").get_json(force=True)
    events = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}["events-since-subscription-start"]
    assert events["valueString"] == "1"


def test_id_only_notification_names_the_focus_without_its_content(quick, pas_client, listener):
    endpoint, received = listener
    pas_client.post("/payer/Subscription", json=subscription(endpoint, content="id-only", org=None))
    assert kind(received.get(timeout=5)[2]) == "handshake"
    pas_client.post("/payer/Claim/$submit", json=request_for("22514"))   # PVA with no imaging at all: pended
    _, _, note = received.get(timeout=15)
    focus = note["entry"][1]
    assert "resource" not in focus and focus["request"]["url"] == focus["fullUrl"]
    decision_id = focus["fullUrl"].rsplit("/", 1)[1]
    assert action(pas_client.get(f"/payer/Bundle/{decision_id}").get_json(force=True)) == "A1"


@pytest.mark.parametrize("extra,expected", [
    ((TRIAL_REPORT,), "A4"),                 # no psychological evaluation: pended
    ((TRIAL_REPORT, PSYCH_EVAL), "A1"),      # evaluation coded in painpa's psych-evaluation value set
    ((), "A3"),                              # nothing attached: denied (NCD 160.7)
])
def test_stimulator_rules(pas_client, extra, expected):
    assert action(pas_client.post("/payer/Claim/$submit", json=request_for("63685", *extra)).get_json(force=True)) == expected


@pytest.mark.parametrize("days_ago,expected", [(None, "A4"), (200, "A4"), (90, "A4"), (80, "A1"), (10, "A1")])
def test_vertebral_augmentation_imaging_window_is_the_policys(pas_client, days_ago, expected):
    """The window is the PVA family's ``pva.imaging`` requirement (84 days), read through the policy API."""
    family = state.of(pas_client.application).policies.family_of(["22514"], date.today())
    window = next(r for r in family.data["requirements"] if r["id"] == "pva.imaging")["params"]["within_days"]
    assert 80 < window < 90
    extra = () if days_ago is None else (mri(days_ago),)
    assert action(pas_client.post("/payer/Claim/$submit", json=request_for("22514", *extra)).get_json(force=True)) == expected


@pytest.mark.parametrize("mutate,names", [
    (lambda s: s.update(criteria="ClaimResponse?status=active"), "criteria"),
    (lambda s: s["channel"].update(type="websocket"), "channel.type"),
    (lambda s: s["channel"].update(endpoint="https://elsewhere.example.com/hook"), "channel.endpoint"),
    (lambda s: s["channel"]["_payload"]["extension"][0].update(valueCode="everything"), "payload"),
    (lambda s: s["_criteria"]["extension"][0].update(valueString="patient=123"), "orgIdentifier"),
    (lambda s: s.update(resourceType="Patient"), "Subscription"),
])
def test_subscriptions_the_payer_cannot_honour_are_refused_by_name(pas_client, mutate, names):
    body = subscription("http://127.0.0.1:9/hook")
    mutate(body)
    resp = pas_client.post("/payer/Subscription", json=body)
    assert resp.status_code == 400
    issue = resp.get_json(force=True)["issue"][0]
    assert names in issue["diagnostics"] + " ".join(issue.get("expression", []))


def test_an_endpoint_the_handshake_cannot_reach_makes_the_subscription_error(pas_client):
    """Backport IG §"Handshake": the client sees ``error`` at once and knows to ``$inquire`` instead."""
    created = pas_client.post("/payer/Subscription", json=subscription(f"http://127.0.0.1:{free_port()}/hook"))
    assert created.status_code == 201 and created.get_json(force=True)["status"] == "error"
    assert pas_client.get(created.headers["Location"].split("8080", 1)[1]).get_json(force=True)["status"] == "error"


def test_a_deleted_subscription_is_gone(pas_client):
    sub = pas_client.post("/payer/Subscription", json=subscription("http://127.0.0.1:9/hook")).get_json(force=True)
    assert pas_client.delete(f"/payer/Subscription/{sub['id']}").status_code == 204
    assert pas_client.get(f"/payer/Subscription/{sub['id']}").status_code == 404


def test_subscriptions_and_decision_bundles_need_the_payers_token(client, pas_client, token):
    """Every payer route but ``/payer/metadata`` is protected (backend-services.md §"Access FHIR API";
    RFC 6750 §3): no token is 401 with an OperationOutcome and a challenge, and nothing is created; a
    token without the route's scope is 403 naming the scope it needs."""
    sub = pas_client.post("/payer/Subscription", json=subscription("http://127.0.0.1:9/hook")).get_json(force=True)
    decided = pas_client.post("/payer/Claim/$submit", json=request_for("64483", TRIAL_REPORT)).get_json(force=True)
    calls = [("post", "/payer/Subscription", subscription("http://127.0.0.1:9/other")),
             ("get", f"/payer/Subscription/{sub['id']}", None), ("get", f"/payer/Subscription/{sub['id']}/$status", None),
             ("delete", f"/payer/Subscription/{sub['id']}", None),
             ("get", f"/payer/Bundle/{decided['entry'][0]['resource']['id']}", None)]
    for method, path, body in calls:
        refused = getattr(client, method)(path, json=body)
        assert refused.status_code == 401, (method, path)
        assert refused.get_json(force=True)["issue"][0]["code"] == "login"
        assert refused.headers["WWW-Authenticate"].startswith('Bearer realm="painpa-sandbox-payer"')
    claims_only = token("system/Claim.cr")
    narrow = client.post("/payer/Subscription", json=subscription("http://127.0.0.1:9/other"), headers=claims_only)
    assert narrow.status_code == 403 and 'scope="system/Subscription.c"' in narrow.headers["WWW-Authenticate"]
    assert pas_client.get(f"/payer/Subscription/{sub['id']}").get_json(force=True)["status"] != "off"  # untouched
    with state.of(client.application).db.session() as s:
        assert s.scalar(select(func.count()).select_from(PayerSubscription)) == 1   # only the one made with the token


def test_every_x12_review_action_is_reachable_by_rule(pas_client):
    """Certified (A1), not certified (A3, with its specific reason), pended (A4) and modified (A6:
    three transforaminal levels asked, the additional-level code certified for one unit)."""
    def codes_of(bundle):
        return {seq: act["code"] for seq, act in review_actions(bundle["entry"][0]["resource"]).items()}

    assert codes_of(pas_client.post("/payer/Claim/$submit", json=request_for("64483", TRIAL_REPORT)).get_json(force=True)) == {1: "A1"}
    denied = pas_client.post("/payer/Claim/$submit", json=request_for("62322")).get_json(force=True)
    assert codes_of(denied) == {1: "A3"} and "imaging guidance" in denied["entry"][0]["resource"]["processNote"][0]["text"]
    assert codes_of(pas_client.post("/payer/Claim/$submit", json=request_for("63685", TRIAL_REPORT)).get_json(force=True)) == {1: "A4"}

    body = request_for("64483", TRIAL_REPORT)
    body["entry"][0]["resource"]["item"].append({"sequence": 2, "quantity": {"value": 2},
                                                 "productOrService": {"coding": [{"system": CPT, "code": "64484"}]}})
    modified = pas_client.post("/payer/Claim/$submit", json=body).get_json(force=True)
    assert codes_of(modified) == {1: "A1", 2: "A6"}
    cr = modified["entry"][0]["resource"]
    assert cr["outcome"] == "complete" and cr["disposition"] == "Modified" and cr["preAuthRef"]
    detail = next(e for e in cr["item"][1]["extension"] if e["url"].endswith("extension-itemAuthorizedDetail"))
    assert detail["extension"] == [{"url": "quantity", "valueQuantity": {"value": 1}}]
    Bundle.model_validate(modified)
