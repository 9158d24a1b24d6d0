"""Orders already signed and waiting for prior authorization or documentation: what a
prior-authorization coordinator's queue shows on a Monday morning (ARCHITECTURE.md: the coordinator
queue). Each is the scenario's own default order, placed through the same order builder as the
EHR's order screen, by one of the practice's two clinicians, for a date of service a few days to a
few weeks ahead. Patients not listed here have no pending order, so their worklist starts from the
order screen as before.
"""

from __future__ import annotations

from datetime import date, timedelta

from sandbox.ehr.orders import draft_service_request
from sandbox.seed.scenarios import Scenario

LEE, PATEL = "Practitioner/sbx-dr-lee", "Practitioner/sbx-dr-patel"
# patient → (days until the date of service, ordering clinician)
QUEUE = {
    "az-esi-pended": (4, LEE),
    "oh-esi-expired": (6, PATEL),
    "nj-esi-denied": (9, LEE),
    "wa-esi-partial": (12, PATEL),
    "oh-scs-nopsych": (15, PATEL),
    "az-pva-nomri": (5, LEE),
    "tx-pva-ready": (20, LEE),
    "fl-scs-opd-affirmed": (10, PATEL),
}


def pending_order(scenario: Scenario, coverage_id: str, encounter_id: str, today: date) -> dict | None:
    """The scenario's default order, signed (``active``), or None when it has none in the queue."""
    if scenario.pid not in QUEUE:
        return None
    days, clinician = QUEUE[scenario.pid]
    form = {**scenario.order, "state": scenario.state, "date": (today + timedelta(days=days)).isoformat(),
            "draft_id": f"{scenario.pid}-order"}
    order = draft_service_request(form, patient=scenario.pid, encounter=encounter_id, coverage=coverage_id,
                                  user=clinician, today=today - timedelta(days=2))
    return {**order, "status": "active"}
