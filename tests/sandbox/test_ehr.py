"""The sandbox EHR as a CDS Hooks client (CDS Hooks 2.0 §Calling a CDS Service, §Prefetch,
§Feedback; hook library order-select/order-sign 1.0) and its screens. In process for the request
shape and card rendering; over real HTTP against ``painpa sandbox`` for the calls to painpa."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import requests
from sqlalchemy import select

from cds_service import state
from cds_service.store.base import Database
from cds_service.store.tables import Feedback
from sandbox import state as sandbox_state
from sandbox.auth import launch
from sandbox.ehr import cards, hookreq, patient_view, workflow
from sandbox.ehr.orders import draft_service_request
from sandbox.fhir import store
from sandbox.setup import ensure_ready
from sandbox.tokens import introspect


def _order(draft_id: str, **kw) -> dict:
    return {"family": "esi", "code": "64483", "levels": 2, "laterality": "left", "pos": "24", "state": "TX",
            "date": (date.today() + timedelta(days=7)).isoformat(), "draft_id": draft_id, **kw}


def test_screens_render_with_stable_test_ids(app, client):
    ensure_ready(app)
    page = client.get("/ehr/").get_data(as_text=True)
    assert page.count('data-testid="patient-row"') >= 20
    chart = client.get("/ehr/patients/nj-esi-denied").get_data(as_text=True)
    for section in ("problems", "therapy", "scores", "imaging", "prior-authorization", "notes", "orders"):
        assert f'data-testid="chart-section-{section}"' in chart
    assert "A3 Not Certified" in chart and "conservative care of at least 4 weeks" in chart
    order = client.get("/ehr/patients/tx-esi-fix/order").get_data(as_text=True)
    for testid in ("order-code", "order-levels", "order-laterality", "order-date", "order-setting", "sign-button"):
        assert f'data-testid="{testid}"' in order
    assert client.get("/ehr/patients/nobody").status_code == 404
    assert client.post("/ehr/api/sign", data="x").status_code == 415


def test_draft_order_carries_billing_codes_site_and_coverage(app):
    sr = draft_service_request(_order("d-1"), patient="p", encounter="e", coverage="c", user="Practitioner/u",
                               today=date.today())
    assert sr["status"] == "draft" and sr["code"]["coding"][0]["code"] == "64483"
    details = [c["code"] for d in sr["orderDetail"] for c in d["coding"]]
    assert details == ["64484", "LT"]  # the add-on level and the laterality modifier
    site = sr["contained"][0]
    assert sr["locationReference"] == [{"reference": "#site"}] and site["address"]["state"] == "TX"
    assert site["type"][0]["coding"][0]["code"] == "24" and sr["insurance"] == [{"reference": "Coverage/c"}]


def test_hook_request_and_prefetch(app):
    ensure_ready(app)
    db = state.of(app).db
    with app.app_context():
        draft = draft_service_request(_order("d-2"), patient="tx-esi-fix", encounter=None, coverage=None,
                                      user="Practitioner/sbx-dr-lee", today=date.today())
        auth = hookreq.fhir_authorization(db, "tx-esi-fix", "Practitioner/sbx-dr-lee")
        body = hookreq.build("order-select", fhir_base="http://127.0.0.1:8080/fhir",
                             context={"userId": "Practitioner/sbx-dr-lee", "patientId": "tx-esi-fix"}, draft=draft, auth=auth)
        prefetch = hookreq.fill_prefetch(db, {
            "patient": "Patient/{{context.patientId}}",
            "scores": "Observation?patient={{context.patientId}}&code=http://loinc.org|72514-3",
            "encounter": "Encounter/{{context.encounterId}}",  # no encounter in context: omitted
        }, body["context"], "http://127.0.0.1:8080/fhir")
    assert body["context"]["selections"] == ["ServiceRequest/d-2"]
    assert body["context"]["draftOrders"]["entry"][0]["resource"]["id"] == "d-2"
    fa = body["fhirAuthorization"]
    assert fa["token_type"] == "Bearer" and fa["expires_in"] == 300 and fa["scope"] == "patient/*.rs"
    assert fa["subject"] == "painpa-cds" and fa["patient"] == "tx-esi-fix"
    assert introspect(db, fa["access_token"]).patient == "tx-esi-fix"
    assert set(prefetch) == {"patient", "scores"} and prefetch["scores"]["total"] == 1
    assert hookreq.build("order-sign", fhir_base="x", context={}, draft=draft, auth=None)["context"].get("selections") is None


def test_card_markdown_cannot_inject_markup():
    html = cards.render_markdown("**ok** <script>alert(1)</script> [x](javascript:alert(1)) [y](https://cms.gov)")
    assert "<script" not in html and "&lt;script&gt;" in html  # shown as text, never as markup
    assert 'href="javascript' not in html and 'href="https://cms.gov"' in html
    ordered = cards.prepare([{"indicator": "info", "summary": "i"}, {"indicator": "critical", "summary": "c"}])
    assert [c["indicator"] for c in ordered] == ["critical", "info"] and cards.has_critical(ordered)


class RecordingClient:
    def __init__(self):
        self.feedback_sent = []

    def feedback(self, service_id, items):
        self.feedback_sent.append((service_id, items))
        return {}


def _use_cds_client(app, client) -> None:
    """Stand ``client`` in for the EHR's CDS Hooks client of this app."""
    sandbox_state.install(app, replace(sandbox_state.of(app), cds=client))


def test_accepting_a_suggestion_applies_its_actions_then_reports_feedback(app):
    """The CDS service is replaced by a recorder here only because painpa's policy never suggests
    actions today; the application of actions is the EHR's job and is what is checked."""
    ensure_ready(app)
    recorder = RecordingClient()
    _use_cds_client(app, recorder)
    draft = draft_service_request(_order("d-3"), patient="tx-esi-fix", encounter=None, coverage=None,
                                  user="Practitioner/sbx-dr-lee", today=date.today())
    note = {"resourceType": "Task", "id": "t-1", "status": "requested", "intent": "order",
            "for": {"reference": "Patient/tx-esi-fix"}}
    card = {"uuid": "card-1", "indicator": "warning", "summary": "s", "suggestions": [{"uuid": "sg-1", "label": "Do",
            "actions": [{"type": "update", "description": "levels", "resource": {**draft, "quantityQuantity": {"value": 1}}},
                        {"type": "create", "description": "task", "resource": note}]}]}
    with app.test_request_context():
        workflow.remember("hook-1", "painpa-order-select", [card], patient="tx-esi-fix", encounter=None, draft=draft)
        out = workflow.accept("hook-1", "card-1", "sg-1")
        overridden = workflow.override("hook-1", "card-1", None, "Patient declined PT")
    assert out["draft"]["quantityQuantity"]["value"] == 1
    with state.of(app).db.session() as s:
        assert store.read(s, "Task", "t-1")["status"] == "requested"
    (service, items), (_, items2) = recorder.feedback_sent
    assert service == "painpa-order-select" and items[0]["acceptedSuggestions"] == [{"id": "sg-1"}]
    assert items2[0]["outcome"] == "overridden" and items2[0]["overrideReason"] == {"userComment": "Patient declined PT"}
    assert overridden == {} or overridden


def test_order_select_sign_feedback_and_launch_over_http(sandbox_server):
    base = sandbox_server.base
    with_prefetch = requests.post(f"{base}/ehr/api/hooks/order-select", timeout=30, json={
        "patient": "tx-esi-noscore", "order": _order("h-1", levels=1), "prefetch": True}).json()
    without = requests.post(f"{base}/ehr/api/hooks/order-select", timeout=30, json={
        "patient": "tx-esi-noscore", "order": _order("h-2", levels=1), "prefetch": False}).json()
    assert with_prefetch["prefetchKeys"] and not without["prefetchKeys"]
    # painpa read the same chart by querying the sandbox FHIR server with the fhirAuthorization token
    assert [c["summary"] for c in with_prefetch["cards"]] == [c["summary"] for c in without["cards"]]
    fix = next(c for c in without["cards"] if any(lk["type"] == "smart" for lk in c.get("links") or []))

    feedback = requests.post(f"{base}/ehr/api/override", timeout=30, json={
        "hookInstance": without["hookInstance"], "card": fix["uuid"], "comment": "Discussed with patient"})
    assert feedback.status_code == 200, feedback.text
    db = Database(f"sqlite:///{sandbox_server.home / 'painpa.db'}")
    with db.session() as s:
        rows = s.scalars(select(Feedback).where(Feedback.card == fix["uuid"])).all()
        assert [r.outcome for r in rows] == ["overridden"] and rows[0].user_comment == "Discussed with patient"

    url = requests.post(f"{base}/ehr/api/launch", timeout=30, json={
        "hookInstance": without["hookInstance"], "card": fix["uuid"], "link": 0, "patient": "tx-esi-noscore"}).json()["url"]
    assert url.startswith(f"{base}/smart/launch?iss=") and "launch=" in url
    context = launch.resolve(db, url.rsplit("launch=", 1)[1])
    smart_link = next(lk for lk in fix["links"] if lk["type"] == "smart")
    assert context["appContext"] == smart_link["appContext"] and context["patient"] == "tx-esi-noscore"
    assert context["fhirContext"] == [{"reference": "ServiceRequest/h-2"}]

    signed = requests.post(f"{base}/ehr/api/sign", timeout=30, json={
        "patient": "tx-esi-ready", "order": _order("h-3", levels=1), "prefetch": False}).json()
    assert signed["signed"] is True and signed["order"] == "ServiceRequest/h-3"
    coverage = signed["coverage"][0]
    assert coverage["covered"] == "covered" and coverage["pa-needed"] == "satisfied"
    assert coverage["satisfied-pa-id"] == "JHA10000000001"
    db.dispose()


def test_a_dtr_launch_on_a_form_the_coverage_information_names(sandbox_server):
    """The EHR offers DTR on each form of a doc-needed answer (CRD coverage-information
    ``questionnaire``) and launches with the order, the Coverage and that form in fhirContext (DTR 2.2
    spec-113; SMART 2.2 fhirContext ``canonical``); a form the answer did not name is refused."""
    base = sandbox_server.base
    signed = requests.post(f"{base}/ehr/api/sign", timeout=30, json={
        "patient": "tx-esi-noscore", "order": _order("h-dtr", levels=1), "prefetch": False}).json()
    row = next(r for r in signed["coverage"] if r.get("questionnaire"))
    form = row["questionnaire"].split(", ")[0]
    url = requests.post(f"{base}/ehr/api/launch", timeout=30, json={
        "hookInstance": signed["hookInstance"], "patient": "tx-esi-noscore", "questionnaire": form}).json()["url"]
    db = Database(f"sqlite:///{sandbox_server.home / 'painpa.db'}")
    context = launch.resolve(db, url.rsplit("launch=", 1)[1])
    db.dispose()
    assert context["fhirContext"] == [{"reference": "ServiceRequest/h-dtr"}, {"reference": row["coverage"]},
                                      {"canonical": form, "type": "Questionnaire"}]
    refused = requests.post(f"{base}/ehr/api/launch", timeout=30, json={
        "hookInstance": signed["hookInstance"], "patient": "tx-esi-noscore",
        "questionnaire": "http://payer.example/Questionnaire/other"})
    assert refused.status_code == 404 and "not in painpa's coverage information" in refused.text


class PatientViewClient(RecordingClient):
    """Stands in for painpa's patient-view service: one card with a SMART link carrying appContext."""

    def service_for(self, hook):
        return {"id": "painpa-cpm", "hook": hook}

    def call(self, service_id, body):
        self.body = body
        return {"cards": [{"uuid": "cpm-card", "indicator": "info", "summary": "G3002: 20 of 30 min",
                           "source": {"label": "painpa"},
                           "links": [{"label": "Record time", "type": "smart", "url": "http://127.0.0.1:9/smart/launch",
                                      "appContext": '{"ctx":"h-1"}'}]}]}


def test_a_patient_view_cards_smart_link_launches_with_its_app_context_and_no_order(app):
    """The chart's chronic pain card opens the app for the patient (no order in fhirContext)."""
    ensure_ready(app)
    _use_cds_client(app, PatientViewClient())
    with app.test_request_context():
        shown = patient_view.fire("tx-esi-fix")
        assert [c["uuid"] for c in shown["cards"]] == ["cpm-card"]
        url = workflow.launch_url(shown["hookInstance"], "cpm-card", 0, "tx-esi-fix", None)
    launch_id = url.split("launch=")[1]
    context = launch.resolve(state.of(app).db, launch_id)
    assert context["patient"] == "tx-esi-fix" and context["appContext"] == '{"ctx":"h-1"}'
    assert "fhirContext" not in context
