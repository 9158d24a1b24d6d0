"""Clinic readiness in headless Chromium against ``painpa sandbox`` (one real process): the patient
on every screen of the SMART app and in the PA packet, a page for another patient refused across two
tabs, forms refusing impossible data with the field named, the worklist in plain words with what is
missing first, and the coordinator queue (sorted by date of service, filters, rows opening the
patient's worklist) agreeing with the worklist it opens."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.clinic.helpers import open_app, shot

pytestmark = pytest.mark.browser
PVA, SCS, DENIED = "az-pva-nomri", "oh-scs-nopsych", "nj-esi-denied"
RAW = ("auth-needed", "no-auth", "{score}", "ServiceRequest/", "Procedure/", "Observation/", "Condition/",
       "ImagingStudy/", "§6.2.10 §6.2.10", "unmet", "conditional")



def banner(page) -> dict:
    b = page.locator('[data-testid="patient-banner"]')
    return {"id": b.get_attribute("data-patient-id"), "name": b.locator('[data-testid="banner-name"]').inner_text(),
            "birth": b.locator('[data-testid="banner-birth"]').inner_text(),
            "sex": b.locator('[data-testid="banner-sex"]').inner_text(),
            "mrn": b.locator('[data-testid="banner-mrn"]').inner_text()}


def test_the_patient_is_named_on_every_screen_and_another_patients_page_is_refused(context, sandbox_server):
    base = sandbox_server.base
    a = open_app(context, base, PVA)
    b = open_app(context, base, SCS)          # a second launch in a second tab
    want_a = {"id": PVA, "name": "Edward Clark", "sex": "Male", "mrn": f"MRN-{PVA.upper()}"}
    assert {k: banner(a)[k] for k in want_a} == want_a
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", banner(a)["birth"])
    assert banner(b)["name"] == "Karen Anderson" and banner(b)["id"] == SCS
    a.reload()                                 # the first tab is still on its own patient
    assert banner(a)["name"] == "Edward Clark"
    heading = a.locator('[data-testid^="order-words-"]').first.inner_text()
    assert heading.startswith("Kyphoplasty, lumbar (22514), L1, midline, on ") and "ServiceRequest" not in heading

    # every screen of tab A names Edward Clark: a fix form, the packet, the chronic pain page
    a.locator('[data-testid^="fix-"]').first.click()
    a.wait_for_selector("form[data-testid^=form-]")
    assert banner(a)["name"] == "Edward Clark"
    assert "Kyphoplasty, lumbar (22514)" in a.locator('[data-testid="form-order"]').inner_text()
    form_url = a.url
    a.go_back()
    a.locator('[data-testid^="packet-html-"]').first.click()
    a.wait_for_selector('[data-testid="packet"]')
    assert banner(a)["name"] == "Edward Clark"
    packet = a.locator('[data-testid="packet-patient"]').inner_text()
    assert packet.startswith("Edward Clark, born ") and f"MRN MRN-{PVA.upper()}" in packet and "Male" in packet
    assert "ServiceRequest/" not in a.locator('[data-testid="packet"]').inner_text()
    shot(a, "packet")

    a.goto(form_url.split("/form/")[0] + "/cpm")                # the chronic pain page reads no Patient itself
    assert banner(a)["name"] == "Edward Clark"

    # a form rendered for patient A, posted with patient B's data, is refused and nothing is saved
    a.goto(form_url)
    a.wait_for_selector("form[data-testid^=form-]")
    a.evaluate(f"document.querySelector('input[name=patient]').value = '{SCS}'")
    a.locator('[data-testid="form-submit"]').click()
    a.wait_for_selector('[data-testid="error-message"]')
    assert "another patient" in a.locator('[data-testid="error-message"]').inner_text()
    assert "nothing was saved" in a.locator('[data-testid="error-message"]').inner_text()
    assert banner(a)["name"] == "Edward Clark"                   # the refusal says which patient this window is on
    # and B's order cannot be opened in A's window
    b_order = b.locator('[data-testid="order"]').first.get_attribute("data-order-ref")
    a.goto(re.sub(r"order=[^&]+", "order=" + b_order, form_url))
    assert "not in this worklist" in a.locator('[data-testid="error-message"]').inner_text()


def _form(page, base_url: str, qid: str, order: str):
    page.goto(f"{base_url}/form/{qid}?order={order}")
    page.wait_for_selector(f'[data-testid="form-{qid}"]')


def _choose(page, link: str, contains: str) -> None:
    select = page.locator(f'select[data-testid="field-{link}"]')
    if select.count():
        value = next(o.get_attribute("value") for o in select.locator("option").all()
                     if contains in (o.get_attribute("value") or ""))
        select.select_option(value=value)
        return
    page.locator(f'input[data-testid^="field-{link}-"][value*="{contains}"]').first.check()


def test_forms_refuse_impossible_dates_scores_and_minutes_naming_the_field(context, sandbox_server):
    app = open_app(context, sandbox_server.base, SCS)
    worklist = app.url
    order = app.locator('[data-testid="order"]').first.get_attribute("data-order-ref")
    today = date.today()

    _form(app, worklist, "conservative-therapy", order)
    start = app.locator('[data-testid="field-start"]')
    assert start.get_attribute("type") == "date" and start.get_attribute("max") == today.isoformat()
    _choose(app, "kind", "therapy")
    _choose(app, "therapy-code", "97110")
    start.fill((today - timedelta(days=20)).isoformat())
    app.fill('[data-testid="field-end"]', (today - timedelta(days=30)).isoformat())   # end before start
    app.check('[data-testid="field-ongoing-no"]')
    _choose(app, "response", "no-improvement")
    app.click('[data-testid="form-submit"]')
    app.wait_for_selector('[data-testid="form-errors"]')
    assert "End date: cannot be before the start date" in app.locator('[data-testid="error-end"]').inner_text()
    assert app.locator("#f-end").get_attribute("aria-invalid") == "true"
    shot(app, "form-end-before-start")
    app.fill('[data-testid="field-start"]', (today + timedelta(days=3)).isoformat())   # past care in the future
    app.fill('[data-testid="field-end"]', "")
    app.click('[data-testid="form-submit"]')
    app.wait_for_selector('[data-testid="error-start"]')
    assert "Start date: cannot be after" in app.locator('[data-testid="error-start"]').inner_text()

    _form(app, worklist, "pain-function-scores", order)
    _choose(app, "scale", "72514-3")
    app.fill('[data-testid="field-nrs"]', "11")
    app.fill('[data-testid="field-date"]', today.isoformat())
    app.click('[data-testid="form-submit"]')
    app.wait_for_selector('[data-testid="error-nrs"]')
    assert "between 0 and 10" in app.locator('[data-testid="error-nrs"]').inner_text()

    app.goto(f"{worklist}/form/cpm-time")
    app.wait_for_selector('[data-testid="form-cpm-time"]')
    app.fill('[data-testid="field-minutes"]', "0")
    app.click('[data-testid="form-submit"]')
    app.wait_for_selector('[data-testid="error-minutes"]')
    assert "between 1 and 600" in app.locator('[data-testid="error-minutes"]').inner_text()
    app.goto(worklist)   # nothing impossible reached the chart: the therapy gap is still open
    assert app.locator('[data-testid="form-errors"]').count() == 0


def test_worklist_says_what_is_missing_first_in_plain_words(context, sandbox_server):
    app = open_app(context, sandbox_server.base, SCS)
    section = app.locator('[data-testid="order"]').first
    open_rows = section.locator('table[data-testid^="open-"] tr[data-status]')
    met = section.locator('details[data-testid^="met-"]')
    statuses = [r.get_attribute("data-status") for r in open_rows.all()]
    assert statuses and set(statuses) <= {"unmet", "unknown"}
    assert statuses == sorted(statuses, key=["unmet", "unknown"].index)
    assert met.get_attribute("open") is None               # folded
    n_met = met.locator("tr[data-status=met]").count()
    assert met.locator("summary").inner_text() == f"{n_met} requirements already documented" and n_met >= 3
    pa = section.locator('[data-testid^="pa-words-"]').inner_text()
    assert pa == "Prior authorization needed — not yet requested."
    shot(app, "worklist-open-first")
    met.locator("summary").click()
    text = section.inner_text()
    for raw in RAW:
        assert raw not in text, raw
    for row in section.locator("tr[data-status]").all():    # each evidence item once
        items = [li.inner_text() for li in row.locator("li").all()]
        assert len(items) == len(set(items)), items
    assert "Missing" in text and "Done" in text
    shot(app, "worklist-expanded")


def test_coordinator_queue_lists_orders_needing_action_by_date_and_opens_the_worklist(context, sandbox_server):
    page = context.new_page()
    page.goto(f"{sandbox_server.base}/ehr/")
    page.click('[data-testid="queue-link"]')
    page.wait_for_selector('[data-testid="queue"]', timeout=60_000)
    rows = page.locator('[data-testid="queue-row"]')
    ids = [r.get_attribute("data-patient-id") for r in rows.all()]
    dates = [r.get_attribute("data-service-date") for r in rows.all()]
    assert dates == sorted(dates)
    needs = {r.get_attribute("data-patient-id"): r.get_attribute("data-needs").split() for r in rows.all()}
    assert needs["az-esi-pended"] == ["pended"]
    assert needs[DENIED] == ["non-affirmed"]
    assert needs["oh-esi-expired"] == ["utn-ends"]
    assert needs["wa-esi-partial"] == ["pa-partial"]
    assert needs[PVA] == ["pa-needed", "documentation"]
    assert "fl-scs-opd-affirmed" not in ids            # affirmed, documented: nothing to do
    assert "ServiceRequest/" not in page.locator("main").inner_text()
    shot(page, "queue", "queue")

    page.select_option('[data-testid="filter-clinician"]', label="Priya Patel")
    page.click('[data-testid="filter-apply"]')
    page.wait_for_load_state()
    patel = {r.get_attribute("data-patient-id") for r in page.locator('[data-testid="queue-row"]').all()}
    assert patel == {"oh-esi-expired", "wa-esi-partial", SCS}
    page.select_option('[data-testid="filter-clinician"]', value="")
    page.select_option('[data-testid="filter-program"]', label="CMS WISeR prior authorization")
    page.click('[data-testid="filter-apply"]')
    page.wait_for_load_state()
    wiser = [r.get_attribute("data-patient-id") for r in page.locator('[data-testid="queue-row"]').all()]
    assert wiser == ids and {r.get_attribute("data-program") for r in rows.all()} == {"wiser"}
    opd = next(o.get_attribute("value") for o in page.locator('[data-testid="filter-program"] option').all()
               if "OPD" in o.inner_text())
    page.select_option('[data-testid="filter-program"]', value=opd)
    page.click('[data-testid="filter-apply"]')
    page.wait_for_selector('[data-testid="queue-empty"]')      # the OPD order on file is affirmed
    page.select_option('[data-testid="filter-program"]', value="")
    page.click('[data-testid="filter-apply"]')
    page.wait_for_selector('[data-testid="queue"]')

    page.click(f'[data-testid="queue-open-{PVA}"]')
    page.wait_for_selector('[data-testid="worklist"]')
    assert banner(page)["name"] == "Edward Clark"
    # the worklist it opens says the same as the queue row: imaging missing, PA not requested
    assert page.locator('tr[data-status="unmet"]').count() >= 1
    assert "not yet requested" in page.locator('[data-testid^="pa-words-"]').inner_text()
    page.click('[data-testid="back-to-queue"]')
    page.wait_for_selector('[data-testid="queue"]')
    # the coordinator's own window has no patient: a patient page there is refused in words
    page.goto(page.url.split("?")[0].replace("/queue", "/packet"))
    assert "no patient" in page.locator('[data-testid="error-message"]').inner_text()
