"""The denial dashboard's sandbox data, loaded once after the synthetic patients
(``sandbox.seed.load.seed`` calls :func:`seed_dashboard`): payer decisions with specific denial
reasons (CMS-0057-F, domain.md §3) imported through the same CSV path as the dashboard, payers'
public metrics for the scorecard, the PAS decisions already in the sandbox FHIR store, and a
dashboard user.

Dates are relative to the seed date so that windows (last 10 decisions, 365-day gold-card window)
hold whenever the sandbox is started.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from datetime import date, timedelta

from flask import Flask

from cds_service import state
from cds_service.admin.auth import UserError, create_user
from cds_service.clock import today_utc
from cds_service.denials.imports import import_csv
from cds_service.denials.pas_import import decisions_from_resources, fetch_resources
from cds_service.denials.programs import program_resolver
from cds_service.denials.records import ImportReport
from cds_service.denials.rules import default_data
from cds_service.denials.store import save_decisions
from sandbox.tokens import issue_direct, revoke

MEDICARE, EXAMPLE_MA, ACME = "Medicare Part A/B (MAC)", "Example Advantage Plan", "Acme Health PPO"
LEE, PATEL, KIM = ("1999999984", "Dr. Jordan Lee"), ("1888888881", "Dr. Asha Patel"), ("1777777772", "Dr. Min Kim")
PT_REASON = "Non-affirmed: fewer than 4 weeks of physical therapy or other conservative care documented"


def _row(i: str, payer: str, code: str, decided: date, outcome: str, who: tuple[str, str], *, program: str = "",
         reason: str = "", carc: str = "", kind: str = "prior-auth", appeal: str = "",
         expedited: bool = False) -> dict:
    return {"id": f"sbx-{i}", "payer": payer, "plan": "", "code": code, "date": decided.isoformat(),
            "outcome": outcome, "reason_text": reason, "carc": carc, "rarc": "", "clinician": who[0],
            "clinician_name": who[1], "program": program,
            "submitted": (decided - timedelta(days=1 if expedited else 3)).isoformat(),
            "expedited": "yes" if expedited else "no", "appeal_outcome": appeal, "kind": kind}


def denials_csv(today: date) -> str:
    rows = []
    # WISeR lumbar ESIs by Dr. Lee: 4 of the last 10 non-affirmed for conservative-care duration.
    for i in range(16):
        denied = i in (0, 3, 6, 8)
        rows.append(_row(f"w-lee-{i}", MEDICARE, "64483" if i % 3 else "62323", today - timedelta(days=5 + 18 * i),
                         "denied" if denied else "affirmed", LEE, program="WISeR",
                         reason=PT_REASON if denied else "", carc="50" if denied else "",
                         appeal="approved" if i == 3 else "", expedited=i % 5 == 2))
    for i in range(14):  # WISeR vertebral augmentation by Dr. Patel: gold-card ready
        rows.append(_row(f"w-patel-{i}", MEDICARE, "22513", today - timedelta(days=10 + 21 * i),
                         "denied" if i == 9 else "affirmed", PATEL, program="WISeR",
                         reason="MRI does not show marrow edema" if i == 9 else ""))
    for i in range(5):  # WISeR stimulators by Dr. Kim: too few requests yet
        rows.append(_row(f"w-kim-{i}", MEDICARE, "63655", today - timedelta(days=30 + 40 * i), "affirmed", KIM,
                         program="WISeR"))
    for i in range(8):  # the MA plan with a policy pack
        rows.append(_row(f"ma-{i}", EXAMPLE_MA, "64483", today - timedelta(days=12 + 25 * i),
                         "denied" if i in (1, 4) else "affirmed", LEE,
                         reason="Advanced imaging older than 24 months" if i in (1, 4) else "", expedited=i == 3))
    for i in range(2):  # claim denials no rule maps: listed for review
        rows.append(_row(f"acme-{i}", ACME, "64483", today - timedelta(days=40 + 9 * i), "denied", ("", ""),
                         reason="Duplicate claim/service", carc="CO-18", kind="claim"))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def metrics_csv(today: date) -> str:
    y = today.year
    return "\n".join([
        "payer,plan,year,pct_approved,pct_denied,pct_approved_after_appeal,median_hours_standard,median_hours_expedited,source",
        f"{MEDICARE},,{y},91.0,9.0,2.5,70,40,Illustrative sandbox figures (WISeR participant dashboard)",
        f"{EXAMPLE_MA},,{y},88.5,11.5,4.1,96,30,Illustrative sandbox CMS-0057-F report",
        f"{EXAMPLE_MA},,{y - 1},86.0,14.0,5.0,120,36,Illustrative sandbox CMS-0057-F report",
        f"Sunrise Medicare Advantage,,{y},79.0,21.0,7.2,144,60,Illustrative sandbox CMS-0057-F report",
    ]) + "\n"


class _InProcess:
    """Just enough of ``requests.Session`` for the PAS reader to search the sandbox's own FHIR server
    in-process (the seed runs before the HTTP server listens)."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()

    def get(self, url, headers=None, timeout=None, allow_redirects=False):
        resp = self.client.get(url, headers=headers)
        return _Resp(resp.status_code, resp.get_data(as_text=True))


class _Resp:
    def __init__(self, status_code: int, text: str) -> None:
        self.status_code, self.text = status_code, text

    def json(self):
        return json.loads(self.text)


def _pas(app: Flask, salt: str) -> ImportReport:
    db, base = state.of(app).db, state.of(app).settings.base_url + "/fhir"
    token = issue_direct(db, client_id="sandbox-seed", scope="system/*.rs", context={}, user="system",
                         expires_in=300)["access_token"]
    try:
        resources = fetch_resources(base, token=token, session=_InProcess(app))
    finally:
        revoke(db, token)
    program_of = program_resolver(state.of(app).policies, today_utc())
    records, errors = decisions_from_resources(resources, base, program_of)
    return save_decisions(db, records, default_data(), salt=salt, report=ImportReport(errors=errors))


def seed_dashboard(app: Flask, today: date) -> None:
    """Called once by the sandbox seed. Prints where the dashboard is and how to sign in."""
    db, settings = state.of(app).db, state.of(app).settings
    import_csv(db, "denials", denials_csv(today).encode(), salt=app.secret_key)
    import_csv(db, "metrics", metrics_csv(today).encode(), salt=app.secret_key)
    _pas(app, app.secret_key)
    password_file = settings.home / "sandbox-admin-password"
    password = secrets.token_urlsafe(12)
    try:
        create_user(db, "admin", password)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
    except UserError:
        pass  # a reseed keeps the existing user and its password
    print(f"painpa sandbox: dashboard at {settings.base_url}/admin (user admin, password in {password_file})",
          flush=True)
