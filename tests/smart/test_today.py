"""One date for "today" (cds_service/clock.py): the CDS cards use the UTC date, so the SMART worklist,
its clinician summary and the CPM page must too, whatever the server's TZ — otherwise near midnight a
card and the worklist disagree about the patient's age, a 4-week window or the month."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime

from cds_service import clock
from cds_service.policy.engine import evaluate
from cds_service.policy.loader import load_policies
from smart_app import summary
from smart_app.context import LaunchContext
from smart_app.worklist import Worklist
from tests.support import fhir_builders as b

PROBE = "from datetime import date; from cds_service.clock import today_utc; print(today_utc(), date.today())"


def _utc_date() -> date:
    return date(*time.gmtime()[:3])


def test_today_utc_is_the_utc_date_when_the_local_date_differs():
    # UTC+14 and UTC-11: at any instant at least one of them is on another calendar day than UTC.
    differed = False
    for tz in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        before = _utc_date()
        out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, "TZ": tz}, capture_output=True,
                             text=True, check=True, timeout=60).stdout.split()
        after = _utc_date()
        helper, local = date.fromisoformat(out[0]), date.fromisoformat(out[1])
        assert helper in (before, after), (tz, out)
        differed |= local != helper
    assert differed, "neither zone's local date differed from UTC: the check proved nothing"


def test_the_clinician_summary_uses_the_utc_date(monkeypatch):
    # 23:30 UTC on 30 June is already 1 July at UTC+14 (and the patient's 31st birthday there).
    monkeypatch.setattr(clock, "now_utc", lambda: datetime(2031, 6, 30, 23, 30, tzinfo=UTC))
    p = b.esi_ready(b.Patient().add(b.coverage("121", name="Medicare"), b.location("TX", "11")))
    p.resources[0]["birthDate"] = "2000-07-01"
    order = b.order("64483")
    record = p.record()
    det = evaluate([order], record, load_policies(), b.TODAY)[0]
    wl = Worklist(patient=record.patient, orders=[order], determinations=[det], record=record)
    text = summary.generate(wl, det, LaunchContext(patient="pt-1"))
    assert "aged 30, is being evaluated on 2031-06-30" in text
