"""Loading the synthetic patients: each chart is one FHIR transaction Bundle POSTed to the sandbox
FHIR server's own base endpoint (FHIR R4 RESTful API §3.1.0.11) with a short-lived system token,
exactly as an integration engine would load data; nothing is written behind the server's back.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import date

from flask import Flask

from cds_service import state
from cds_service.clock import today_utc
from sandbox.seed.chart import Chart
from sandbox.seed.chronic_pain import cpm_chart
from sandbox.seed.denials import seed_dashboard
from sandbox.seed.practice import STATES, practice_bundle
from sandbox.seed.queue import pending_order
from sandbox.seed.scenarios import COVERAGE, SCENARIOS, Scenario
from sandbox.tokens import issue_direct, revoke

SEED_CLIENT = "sandbox-seed"


class SeedError(RuntimeError):
    pass


def chart_bundle(scenario: Scenario, today: date) -> dict:
    c = Chart(scenario.pid, today)
    family, given, gender, age = scenario.name
    c.patient(family, given, gender, age, scenario.state, STATES[scenario.state])
    sopt, label, payer = COVERAGE[scenario.coverage]
    coverage = c.coverage(sopt, label, payer, "M" + hashlib.sha256(scenario.pid.encode()).hexdigest()[:9].upper())
    visit = c.encounter(0)
    scenario.build(c, {"coverage": coverage})
    order = pending_order(scenario, coverage["id"], visit["id"], today)
    if order:
        c.resources.append(order)
    return c.bundle()


def seed(app: Flask, today: date | None = None) -> int:
    today = today or today_utc()
    db = state.of(app).db
    token = issue_direct(db, client_id=SEED_CLIENT, scope="system/*.cruds", context={}, user="system",
                         expires_in=300)["access_token"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    charts = [*(chart_bundle(s, today) for s in SCENARIOS), cpm_chart(today)]
    try:
        for bundle in [practice_bundle(), *charts]:
            resp = client.post("/fhir", json=bundle, headers=headers)
            if resp.status_code != 200:
                raise SeedError(f"seed transaction failed ({resp.status_code}): {resp.get_data(as_text=True)[:800]}")
    finally:
        revoke(db, token)
    try:  # payer decisions and the dashboard user (sandbox.seed.denials)
        seed_dashboard(app, today)
    except Exception as exc:  # noqa: BLE001 - the dashboard's demo data is optional; the EHR must still start
        print(f"painpa sandbox: warning: dashboard demo data not loaded ({type(exc).__name__}: {exc})",
              file=sys.stderr, flush=True)
    return len(charts)   # every patient loaded, the chronic pain one too: what the EHR lists
