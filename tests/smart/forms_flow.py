"""One clinician saving the imaging form in the SMART app over real HTTP: the EHR launch on an order,
the form opened, an outside study submitted (the form extracts a DiagnosticReport and links it to
the order). Shared by the tests of concurrent saves and of the order loop across a fix."""

from __future__ import annotations

import re
from datetime import date, timedelta

import requests


def open_imaging_form(stack, ehr, patient: str, order: str) -> tuple[requests.Session, str, str]:
    """One clinician: a browser of their own, an EHR launch on the order, the imaging form opened."""
    s = stack.browser()
    ctx = {"patient": patient, "fhirContext": [{"reference": f"ServiceRequest/{order}"}]}
    page = s.get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": ehr.launch(ctx)})
    assert page.status_code == 200, page.text[-500:]
    url = f"{stack.base}/smart/app/{page.url.rsplit('/', 1)[1]}/form/imaging"
    form = s.get(url, params={"order": f"ServiceRequest/{order}"})
    assert form.status_code == 200 and 'data-testid="form-imaging"' in form.text, form.text[-500:]
    return s, url, re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)


def submit_imaging(opened: tuple[requests.Session, str, str], order: str, conclusion: str) -> requests.Response:
    """An outside study: the form extracts a DiagnosticReport and links it to the order (link-to-order)."""
    s, url, csrf = opened
    return s.post(url, allow_redirects=False, data={
        "csrf": csrf, "order": f"ServiceRequest/{order}",
        "item.source": "http://painpa.org/fhir/CodeSystem/imaging-source|outside",
        "item.modality": "http://dicom.nema.org/resources/ontology/DCM|MR",
        "item.region": "http://snomed.info/sct|122496007",
        "item.study-date": (date.today() - timedelta(days=30)).isoformat(), "item.conclusion": conclusion})
