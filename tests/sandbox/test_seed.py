"""The synthetic patients: 20+ charts loaded through the FHIR transaction endpoint, covering every
program, requirement situation and prior-authorization state painpa distinguishes."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

from sandbox.seed.load import chart_bundle, seed
from sandbox.seed.scenarios import COVERAGE, SCENARIOS
from sandbox.setup import ensure_ready

X12 = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode"
WISER = {"AZ", "NJ", "OH", "OK", "TX", "WA"}


def _review(cr: dict) -> str:
    ext = cr["item"][0]["adjudication"][0]["extension"][0]["extension"]
    return next(e["valueCodeableConcept"]["coding"][0]["code"] for e in ext if e["url"] == X12)


def test_seed_loads_every_patient_through_the_fhir_server(app, client, token):
    seeded = ensure_ready(app)
    assert seeded >= len(SCENARIOS) >= 20
    h = token()
    # the count printed at start-up is the count the FHIR server holds and the EHR lists
    assert client.get("/fhir/Patient?_summary=count", headers=h).get_json(force=True)["total"] == seeded
    assert ensure_ready(app) == 0  # idempotent: a second start does not reseed
    page = client.get("/ehr/").get_data(as_text=True)
    for s in SCENARIOS:
        assert s.shows.replace("'", "&#39;") in page
    rows = re.findall(r'<tr data-testid="patient-row".*?</tr>', page, re.S)
    assert len(rows) == seeded
    described = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in rows]
    assert all(cells[3].strip() for cells in described), "every listed patient says what it shows"


def test_scenarios_cover_programs_and_prior_authorization_states():
    today = date(2026, 11, 29)
    programs, pa_states = set(), Counter()
    for s in SCENARIOS:
        bundle = chart_bundle(s, today)
        resources = [e["resource"] for e in bundle["entry"]]
        kind = COVERAGE[s.coverage][0]
        family, pos = s.order["family"], s.order["pos"]
        if kind in ("1", "12", "121"):
            programs.add("wiser" if s.state in WISER and s.order["code"] != "63650" else
                         "opd" if pos in ("19", "22") and s.order["code"] == "63650" else "lcd")
        else:
            programs.add({"111": "ma-pack", "112": "ma-nopack"}.get(kind, "commercial"))
        responses = [r for r in resources if r["resourceType"] == "ClaimResponse"]
        if not responses:
            pa_states["none"] += 1
        for cr in responses:
            end = date.fromisoformat(cr["preAuthPeriod"]["end"]) if "preAuthPeriod" in cr else None
            claim = next(r for r in resources if r["resourceType"] == "Claim")
            on_claim = {i["productOrService"]["coding"][0]["code"] for i in claim["item"]}
            state = _review(cr)
            if state == "A1" and end and end < today:
                state = "expired"
            elif state == "A1" and s.order.get("levels", 1) > 1 and len(on_claim) < 2:
                state = "partial"
            pa_states[state] += 1
        assert family in ("esi", "scs", "pva")
    assert {"wiser", "lcd", "opd", "ma-pack", "ma-nopack", "commercial"} <= programs
    assert {"none", "A1", "expired", "A3", "A4", "partial"} <= set(pa_states)


def test_seed_is_reproducible_and_each_bundle_is_accepted(app):
    assert seed(app, date(2026, 11, 29)) == len(SCENARIOS) + 1   # the chronic pain patient too
    assert chart_bundle(SCENARIOS[0], date(2026, 11, 29)) == chart_bundle(SCENARIOS[0], date(2026, 11, 29))
