"""One truth behind every surface (ARCHITECTURE.md; cds_service/readiness.py): for the same chart, the
order-sign cards and the SMART worklist name the same requirements with the same statuses and the
same fix texts, the payer's recent denials included (CMS-0057-F specific reasons, domain.md §3).

Real processes: ``painpa serve``, a FHIR EHR (tests/smart/ehr_server.py), the denial history
imported with ``painpa admin import-denials``, the hook called over HTTP with a signed JWT, and the
worklist opened through the card's own SMART link (CDS Hooks 2.0 §Link; CC-58)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

from tests.smart.chart import esi_chart
from tests.smart.hooks import cards_by_title, order_sign, smart_link, words
from tests.support.procs import ROOT

PAYER = "Agreement Test Payer"   # this test's own payer: the stack's other charts get no history from it
PATIENT, ORDER = "pat-agree", "sr-agree"


def _chart() -> list[dict]:
    chart = esi_chart(PATIENT, ORDER)
    coverage = next(r for r in chart if r["resourceType"] == "Coverage")
    coverage["payor"] = [{"display": PAYER}]
    return chart


def _import_denials(stack, tmp_path: Path) -> None:
    """Four recent lumbar-ESI denials for too little physical therapy, one affirmation, by this payer."""
    today = date.today()
    rows = ["id,payer,code,date,outcome,reason_text"]
    for n in range(5):
        outcome, reason = ("affirmed", "") if n == 4 else (
            "denied", "Fewer than 6 weeks of physical therapy documented before the request")
        rows.append(f"agree-{n},{PAYER},62323,{(today - timedelta(days=10 + n)).isoformat()},{outcome},{reason}")
    csv = tmp_path / "denials.csv"
    csv.write_text("\n".join(rows) + "\n")
    env = {**os.environ, "PAINPA_HOME": str(stack.home), "PAINPA_BASE_URL": stack.base}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([str(Path(sys.executable).parent / "painpa"), "admin", "import-denials", str(csv)],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


class _Rows(HTMLParser):
    """The worklist's requirement rows: title, status and the text of the Fix cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict] = {}
        self._row: dict | None = None
        self._cell = -1
        self._in_title = self._in_link = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and (a.get("data-testid") or "").startswith("requirement-"):
            self._row = {"status": a["data-status"], "title": "", "fix": ""}
            self.rows[a["data-testid"].removeprefix("requirement-")] = self._row
            self._cell = -1
        elif self._row is not None and tag in ("th", "td"):
            self._cell += 1
            self._in_title = tag == "th"
        elif self._row is not None and tag in ("br", "small"):
            self._in_title = False
        elif self._row is not None and tag == "a":
            self._in_link = True

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        elif tag == "a":
            self._in_link = False

    def handle_data(self, data):
        if self._row is None:
            return
        if self._in_title:
            self._row["title"] += data
        elif self._cell == 3 and not self._in_link:
            self._row["fix"] += data


def test_the_card_and_the_worklist_agree_on_requirements_statuses_and_fixes(stack, tmp_path):
    ehr = stack.ehrs["normal"]
    chart = _chart()
    ehr.seed(chart)
    _import_denials(stack, tmp_path)
    order = next(r for r in chart if r["resourceType"] == "ServiceRequest")

    response = order_sign(stack, ehr, PATIENT, order, configuration={"max-cards": 50})
    card_fixes, card_unknown = cards_by_title(response)

    link = smart_link(response)
    s = stack.browser()
    page = s.get(f"{stack.base}/smart/launch",
                 params={"iss": ehr.fhir, "launch": ehr.launch({"patient": PATIENT, "appContext": link["appContext"]})})
    assert page.status_code == 200, page.text[-500:]
    parser = _Rows()
    parser.feed(page.text)
    rows = {rid: {**row, "title": words(row["title"]), "fix": words(row["fix"])} for rid, row in parser.rows.items()}

    unmet = {row["title"]: row["fix"] for row in rows.values() if row["status"] == "unmet"}
    assert card_fixes, "the chart has unmet requirements, so the order-sign answer has cards for them"
    # Every card's requirement is unmet on the worklist, with the very same fix text...
    assert {title: unmet.get(title) for title in card_fixes} == card_fixes
    # ...and what the cards could not check is what the worklist shows as unknown.
    assert card_unknown == {row["title"] for row in rows.values() if row["status"] == "unknown"}

    # The payer's history reached both: the conservative-care fix cites it, word for word.
    history = f"This payer ({PAYER}) denied 4 of its last 5 lumbar ESIs for"
    assert history in card_fixes[rows["esi.conservative-care"]["title"]]
    assert history in rows["esi.conservative-care"]["fix"]
