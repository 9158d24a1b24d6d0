"""The sandbox EHR's order screen in headless Chromium: one painpa card per order, the order in
words (never a resource id), labels whole, the source said once; nothing on the page 404s. The panel's height and a
screenshot go to tests/artifacts/ (``card-panel-<patient>.png``) for a person to look at.

Cards are CDS Hooks 2.0 §Card as rendered by cds_service/render/cards.py; the screen is
sandbox/templates/sandbox/order.html (``data-testid`` selectors)."""

from __future__ import annotations

import re

import pytest

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import chromium

pytestmark = pytest.mark.browser
RESOURCE_ID = re.compile(r"\b[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}\b")
FHIR_TYPES = ("ServiceRequest/", "Procedure/", "Observation/", "Condition/", "ClaimResponse/", "Coverage/",
              "DocumentReference/", "MedicationRequest/", "Patient/")


def card_panel(page, base: str, patient: str, name: str) -> dict:
    """Open ``patient``'s order screen, wait for order-select's cards; return what the panel shows
    and its height in CSS pixels, with a screenshot of the panel."""
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{base}/ehr/patients/{patient}/order")
    page.wait_for_function("document.querySelector('[data-testid=hook-status]').textContent.includes('order-select:')",
                           timeout=30_000)
    panel = page.locator("section.panel", has=page.locator('[data-testid="cards"]'))
    box = panel.bounding_box()
    ARTIFACTS.mkdir(exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    cards = page.locator('[data-testid="card"]')
    return {"height": round(box["height"]), "cards": cards.count(),
            "text": page.locator('[data-testid="cards"]').inner_text(),
            "labels": [b.inner_text() for b in page.locator('[data-testid="card-link"]').all()], "missing": missing}


@pytest.mark.parametrize("patient", ["ok-esi-unknown", "tx-esi-fix", "tx-esi-frequency", "wa-pva-myeloma"])
def test_one_card_per_order_in_words(sandbox_server, patient):
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        seen = card_panel(page, sandbox_server.base, patient, f"card-panel-{patient}")
    print(f"\n{patient}: {seen['cards']} card(s), card panel {seen['height']} px high")
    assert seen["missing"] == []                                # the favicon included
    assert seen["cards"] == 1, seen["text"]                     # the order screen drafts one order
    assert not any(t in seen["text"] for t in FHIR_TYPES), seen["text"]
    assert seen["text"].count("Source:") <= 1
    for label in seen["labels"]:
        assert 0 < len(label) <= 80 and not label.endswith(("(", "…", " or", " and")), label
