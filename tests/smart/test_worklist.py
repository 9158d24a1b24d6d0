"""The app over real HTTP, without a browser: every form renders accessibly, writes are atomic,
sessions and forms are protected, the card's handle is single-use, and Da Vinci PAS submission
goes only to a registered payer (standards.md §4.1, §5.5; ARCHITECTURE.md)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import requests

from smart_app import questionnaires
from smart_app.fhir import AppFhir, FhirAccessError
from tests.smart.chart import esi_chart
from tests.smart.hooks import order_sign, smart_link


def _open(stack, ehr, patient: str, order: str, app_context: str | None = None, seed: bool = True):
    if seed:
        ehr.seed(esi_chart(patient, order))
    s = stack.browser()
    ctx = {"patient": patient, "fhirContext": [{"reference": f"ServiceRequest/{order}"}]}
    if app_context:
        ctx["appContext"] = app_context
    r = s.get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": ehr.launch(ctx)})
    assert r.status_code == 200, r.text[-500:]
    return s, r


class _Controls(HTMLParser):
    def __init__(self):
        super().__init__()
        self.controls, self.labels, self.fieldset_depth, self.in_legend = [], set(), 0, False
        self.orphans, self.tabindex = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"])
        if tag == "fieldset":
            self.fieldset_depth += 1
        if "tabindex" in a and a["tabindex"] not in ("0", "-1"):
            self.tabindex.append(a)
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)
            if a.get("type") in ("radio", "checkbox"):
                if not self.fieldset_depth:
                    self.orphans.append(a)
            elif a.get("id") is None:
                self.orphans.append(a)

    def handle_endtag(self, tag):
        if tag == "fieldset":
            self.fieldset_depth -= 1


@pytest.mark.parametrize("qid", sorted(questionnaires.catalogue()))
def test_every_form_renders_with_a_label_for_every_control(stack, qid):
    ehr = stack.ehrs["normal"]
    s, page = _open(stack, ehr, f"pat-f-{qid}", f"sr-f-{qid}")
    sid = page.url.rsplit("/", 1)[1]
    r = s.get(f"{stack.base}/smart/app/{sid}/form/{qid}", params={"order": f"ServiceRequest/sr-f-{qid}"})
    assert r.status_code == 200
    parser = _Controls()
    parser.feed(r.text)
    assert parser.controls and not parser.orphans and not parser.tabindex
    unlabelled = [c for c in parser.controls if c.get("type") not in ("radio", "checkbox") and c["id"] not in parser.labels]
    assert not unlabelled
    assert 'data-testid="form-submit"' in r.text and f'data-testid="form-{qid}"' in r.text


def test_a_failed_write_leaves_nothing_and_says_so(stack):
    ehr = stack.ehrs["normal"]
    s, page = _open(stack, ehr, "pat-atomic", "sr-atomic")
    sid = page.url.rsplit("/", 1)[1]
    form_url = f"{stack.base}/smart/app/{sid}/form/diagnosis"
    form = s.get(form_url, params={"order": "ServiceRequest/sr-atomic"}).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    before = len(ehr.resources("QuestionnaireResponse")), len(ehr.resources("Condition"))
    requests.post(ehr.base + "/_test/fail-writes", json={"on": True}, timeout=5)
    try:
        r = s.post(form_url, data={"csrf": csrf, "order": "ServiceRequest/sr-atomic",
                                   "item.code": "http://hl7.org/fhir/sid/icd-10-cm|M54.16", "item.onset": "2026-01-02"})
    finally:
        requests.post(ehr.base + "/_test/fail-writes", json={"on": False}, timeout=5)
    assert r.status_code == 422 and "HTTP 503" in r.text and "Nothing was saved" in r.text
    assert 'value="2026-01-02"' in r.text  # the clinician's answers are kept for a retry
    assert (len(ehr.resources("QuestionnaireResponse")), len(ehr.resources("Condition"))) == before


def test_transaction_is_all_or_nothing_at_the_fhir_server(stack):
    ehr = stack.ehrs["normal"]
    token = requests.post(ehr.base + "/_test/token", json={}, timeout=5).json()["access_token"]
    before = len(ehr.resources("Observation"))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b7e3c4e-1111-4a4a-9c9c-000000000001", "request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "ok"}}},
        {"fullUrl": "urn:uuid:0b7e3c4e-1111-4a4a-9c9c-000000000002", "request": {"method": "POST", "url": "Procedure"},
         "resource": {"resourceType": "Procedure", "status": "completed", "subject": {"reference": "Patient/x"},
                      "performedDateTime": "2026-13-45"}}]}
    with pytest.raises(FhirAccessError, match="HTTP 422"):
        AppFhir(ehr.fhir, token).transaction(bundle)
    assert len(ehr.resources("Observation")) == before


def test_pages_need_the_browser_cookie_and_forms_need_the_csrf_token(stack):
    ehr = stack.ehrs["normal"]
    s, page = _open(stack, ehr, "pat-guard", "sr-guard")
    assert stack.browser().get(page.url).status_code == 401
    r = s.post(f"{stack.base}/smart/app/{page.url.rsplit('/', 1)[1]}/form/diagnosis",
               data={"order": "ServiceRequest/sr-guard"})
    assert r.status_code == 400 and "reload the page" in r.text
    assert s.get(page.url.replace("/smart/app/", "/smart/app/x")).status_code == 401
    nope = s.get(page.url + "/form/no-such-form", params={"order": "ServiceRequest/sr-guard"})
    assert nope.status_code == 404 and "There is no form" in nope.text


def test_the_cards_handle_opens_the_order_once(stack):
    ehr = stack.ehrs["normal"]
    chart = esi_chart("pat-card", "sr-card")
    ehr.seed(chart)
    link = smart_link(order_sign(stack, ehr, "pat-card", chart[-1]))
    _, first = _open(stack, ehr, "pat-card", "sr-card", link["appContext"])
    _, second = _open(stack, ehr, "pat-card", "sr-card", link["appContext"])
    assert 'data-order-ref="ServiceRequest/sr-card"' in first.text and 'data-testid="card-note"' not in first.text
    assert "already used or has expired" in second.text
    _, other = _open(stack, ehr, "pat-other", "sr-other", smart_link(order_sign(stack, ehr, "pat-card", chart[-1]))["appContext"])
    assert "another patient" in other.text


def _with_payer(ehr, payer_base: str, patient: str, order: str) -> None:
    chart = esi_chart(patient, order)
    for res in chart:
        if res["resourceType"] == "Organization":
            res["endpoint"] = [{"reference": "Endpoint/ep-pas"}]
    chart.append({"resourceType": "Endpoint", "id": "ep-pas", "status": "active", "address": payer_base,
                  "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                                     "code": "hl7-fhir-rest"},
                  "payloadType": [{"text": "Da Vinci PAS"}]})
    ehr.seed(chart)


def test_pas_submit_to_a_registered_payer_stores_the_claim_response(stack):
    ehr, payer = stack.ehrs["normal"], stack.ehrs["v1"]
    _with_payer(ehr, payer.fhir, "pat-pas", "sr-pas")
    s, page = _open(stack, ehr, "pat-pas", "sr-pas", seed=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = s.post(f"{stack.base}/smart/app/{page.url.rsplit('/', 1)[1]}/pas",
               data={"csrf": csrf, "order": "ServiceRequest/sr-pas"})
    assert r.status_code == 200 and "PAS decision A1, authorization number PAS" in r.text, r.text[-800:]
    assert 'data-pa="satisfied"' in r.text
    stored = [c for c in ehr.resources("ClaimResponse") if c["patient"]["reference"] == "Patient/pat-pas"]
    assert stored and stored[0]["request"]["reference"].startswith("Claim/")
    assert [e for e in payer.log()["fhir"] if e["path"] == "/fhir/Claim/$submit"]


def test_pas_submit_to_an_unregistered_payer_is_refused_without_a_request(stack):
    ehr, foreign = stack.ehrs["normal"], stack.ehrs["foreign"]
    _with_payer(ehr, foreign.fhir, "pat-pas2", "sr-pas2")
    s, page = _open(stack, ehr, "pat-pas2", "sr-pas2", seed=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    before = len(foreign.log()["fhir"])
    r = s.post(f"{stack.base}/smart/app/{page.url.rsplit('/', 1)[1]}/pas",
               data={"csrf": csrf, "order": "ServiceRequest/sr-pas2"})
    assert r.status_code == 403 and "not a registered FHIR base" in r.text
    assert len(foreign.log()["fhir"]) == before


def test_pa_packet_pdf_and_html(stack):
    ehr = stack.ehrs["normal"]
    s, page = _open(stack, ehr, "pat-pkt", "sr-pkt")
    sid = page.url.rsplit("/", 1)[1]
    html = s.get(f"{stack.base}/smart/app/{sid}/packet", params={"order": "ServiceRequest/sr-pkt"})
    pdf = s.get(f"{stack.base}/smart/app/{sid}/packet.pdf", params={"order": "ServiceRequest/sr-pkt"})
    assert html.status_code == 200 and "Ada Quill" in html.text and "CMS WISeR" in html.text
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-") and pdf.headers["Content-Type"] == "application/pdf"
    missing = s.get(f"{stack.base}/smart/app/{sid}/packet", params={"order": "ServiceRequest/nope"})
    assert missing.status_code == 404 and "not in this worklist" in missing.text


def test_a_broken_note_attachment_in_the_chart_breaks_neither_the_packet_nor_a_save(stack):
    """EHR data is input too: a DocumentReference whose attachment is not base64 is skipped."""
    ehr = stack.ehrs["normal"]
    ehr.seed([*esi_chart("pat-badnote", "sr-badnote"),
              {"resourceType": "DocumentReference", "id": "doc-bad", "status": "current", "date": "2026-01-02T10:00:00Z",
               "subject": {"reference": "Patient/pat-badnote"},
               "context": {"related": [{"reference": "ServiceRequest/sr-badnote"}]},
               "content": [{"attachment": {"contentType": "text/plain", "data": "%%% not base64 %%%"}}]}])
    s, page = _open(stack, ehr, "pat-badnote", "sr-badnote", seed=False)
    sid = page.url.rsplit("/", 1)[1]
    packet = s.get(f"{stack.base}/smart/app/{sid}/packet", params={"order": "ServiceRequest/sr-badnote"})
    assert packet.status_code == 200 and "Ada Quill" in packet.text
    form_url = f"{stack.base}/smart/app/{sid}/form/diagnosis"
    form = s.get(form_url, params={"order": "ServiceRequest/sr-badnote"}).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    r = s.post(form_url, data={"csrf": csrf, "order": "ServiceRequest/sr-badnote",
                               "item.code": "http://hl7.org/fhir/sid/icd-10-cm|M54.16", "item.onset": "2026-01-02"},
               allow_redirects=False)
    assert r.status_code == 303
