"""Two SMART app sessions writing to the same order, over real HTTP against real processes: no lost
update (FHIR R4 http.html §3.1.0.6.1 "Managing Resource Contention"). The order's PUT in the form's
transaction carries ``Bundle.entry.request.ifMatch`` with the version the session read; on 412 the
app reads the order again, appends to the fresh version and retries; a conflict that persists is
told to the clinician in words, with nothing saved. The test EHR (tests/smart/ehr_fhir.py) versions
its resources and stages the contention."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from html import unescape

import requests

from smart_app.forms import CONFLICT_MESSAGE, CONFLICT_RETRIES
from tests.smart.chart import esi_chart
from tests.smart.forms_flow import open_imaging_form, submit_imaging


def _chart(patient: str, order: str, *, versioned: bool = True) -> list[dict]:
    chart = esi_chart(patient, order)
    return [{**r, "meta": {"versionId": "1"}} for r in chart] if versioned else chart


def _of_patient(ehr, rtype: str, patient: str) -> list[dict]:
    return [r for r in ehr.resources(rtype) if (r.get("subject") or {}).get("reference") == f"Patient/{patient}"]


def _order(ehr, order: str) -> dict:
    return next(r for r in ehr.resources("ServiceRequest") if r["id"] == order)


def _put_conditions(ehr, order: str) -> list[str | None]:
    """The ifMatch of every transaction's PUT of ``order``, in the order the EHR received them."""
    return [e["ifMatch"] for tx in ehr.log()["transactions"] for e in tx
            if e["method"] == "PUT" and e["url"] == f"ServiceRequest/{order}"]


def test_two_sessions_saving_against_one_order_keep_both_links(stack):
    ehr = stack.ehrs["normal"]
    patient, order = "pat-race", "sr-race"
    ehr.seed(_chart(patient, order))
    first, second = open_imaging_form(stack, ehr, patient, order), open_imaging_form(stack, ehr, patient, order)
    # Both sessions read the order at version 1 before either writes: the EHR holds the first two
    # transactions until both have arrived.
    requests.post(ehr.base + "/_test/hold-writes", json={"parties": 2}, timeout=5)
    try:
        with ThreadPoolExecutor(2) as pool:
            saved = list(pool.map(lambda args: submit_imaging(*args), [(first, order, "L4-5 disc protrusion, first reader."),
                                                                (second, order, "L5-S1 foraminal stenosis, second reader.")]))
    finally:
        requests.post(ehr.base + "/_test/hold-writes", json={"parties": 0}, timeout=5)
    assert [r.status_code for r in saved] == [303, 303], [r.text[-800:] for r in saved]
    reports = {f"DiagnosticReport/{r['id']}" for r in _of_patient(ehr, "DiagnosticReport", patient)}
    linked = _order(ehr, order)
    assert len(reports) == 2 and {ref["reference"] for ref in linked["supportingInfo"]} == reports
    assert linked["meta"]["versionId"] == "3"
    # The loser's first transaction was refused whole and retried on version 2: one response each.
    assert _put_conditions(ehr, order) == ['W/"1"', 'W/"1"', 'W/"2"']
    assert len(_of_patient(ehr, "QuestionnaireResponse", patient)) == 2


def test_a_conflict_that_persists_saves_nothing_and_says_so(stack):
    ehr = stack.ehrs["normal"]
    patient, order = "pat-contended", "sr-contended"
    ehr.seed(_chart(patient, order))
    opened = open_imaging_form(stack, ehr, patient, order)
    requests.post(ehr.base + "/_test/conflict-writes", json={"on": True}, timeout=5)
    try:
        r = submit_imaging(opened, order, "L3-4 annular fissure.")
    finally:
        requests.post(ehr.base + "/_test/conflict-writes", json={"on": False}, timeout=5)
    assert r.status_code == 422 and CONFLICT_MESSAGE in unescape(r.text), r.text[-800:]
    assert "L3-4 annular fissure." in unescape(r.text)  # the answers are kept for the next attempt
    assert _put_conditions(ehr, order) == ['W/"1"'] * (CONFLICT_RETRIES + 1)  # bounded, then told
    assert _of_patient(ehr, "DiagnosticReport", patient) == []
    assert _of_patient(ehr, "QuestionnaireResponse", patient) == []
    untouched = _order(ehr, order)
    assert untouched["meta"]["versionId"] == "1" and "supportingInfo" not in untouched


def test_an_order_read_without_a_version_is_written_without_ifmatch(stack):
    ehr = stack.ehrs["normal"]
    patient, order = "pat-unversioned", "sr-unversioned"
    ehr.seed(_chart(patient, order, versioned=False))
    r = submit_imaging(open_imaging_form(stack, ehr, patient, order), order, "T12 compression fracture, acute.")
    assert r.status_code == 303, r.text[-800:]
    assert _put_conditions(ehr, order) == [None]
    report = _of_patient(ehr, "DiagnosticReport", patient)[0]
    assert _order(ehr, order)["supportingInfo"] == [{"reference": f"DiagnosticReport/{report['id']}"}]
