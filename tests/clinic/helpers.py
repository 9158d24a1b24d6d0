"""What the clinic-readiness browser tests share: an EHR launch of the SMART app on a sandbox
patient (the EHR's own "Open painpa app" button, no card), axe-core on a page (axe-playwright-python
bundles axe.min.js: nothing is fetched), and screenshots under tests/artifacts/clinic/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import requests
from axe_playwright_python.sync_playwright import Axe

from tests.support.artifacts import ARTIFACTS

SHOTS = ARTIFACTS / "clinic"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
AXE_COUNTS = SHOTS / "axe-counts.json"
BLOCKING = ("serious", "critical")
_axe = Axe()


def launch_url(base: str, patient: str) -> str:
    r = requests.post(f"{base}/ehr/api/launch", json={"patient": patient}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["url"]


def open_app(context, base: str, patient: str):
    """A new tab with the app launched from the EHR on ``patient``, at its worklist."""
    page = context.new_page()
    page.goto(launch_url(base, patient))
    page.wait_for_selector('[data-testid="worklist"]', timeout=60_000)
    return page


def shot(page, name: str, doc: str | None = None) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if doc and os.environ.get("PAINPA_DOC_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / f"{doc}.png"), full_page=False, type="png")
    return path


def axe(page, screen: str) -> list[str]:
    """Run axe-core on the page as it is now; record the counts per impact for ``screen`` and
    return the serious and critical violations as readable lines (empty when there are none)."""
    response = _axe.run(page).response
    counts: dict[str, int] = {}
    blocking = []
    for v in response["violations"]:
        counts[v["impact"] or "none"] = counts.get(v["impact"] or "none", 0) + 1
        if v["impact"] in BLOCKING:
            targets = [", ".join(n["target"]) for n in v["nodes"][:3]]
            blocking.append(f"{screen}: {v['id']} ({v['impact']}) {v['help']} at {targets}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(AXE_COUNTS.read_text()) if AXE_COUNTS.exists() else {}
    recorded[screen] = {"violations": len(response["violations"]), **counts,
                        "rules_passed": len(response.get("passes") or [])}
    AXE_COUNTS.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    return blocking
