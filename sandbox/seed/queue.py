"""Orders already signed and waiting for prior authorization or documentation: what a
prior-authorization coordinator's queue shows on a Monday morning (ARCHITECTURE.md: the coordinator
queue). Each is the scenario's own default order, shaped as the EHR's order screen writes it
(sandbox/ehr/orders.py), by one of the practice's two clinicians, for a date of service a few days
to a few weeks ahead. Patients not listed here have no pending order, so their worklist starts from the
order screen as before.
"""

from __future__ import annotations

from datetime import date, timedelta

from sandbox.codes import CPT, HCPCS, POS
from sandbox.seed.practice import SITES, location_id
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
# The order screen's catalogue entries for the codes above (sandbox/ehr/orders.py ORDERABLES; the
# seed sits below the EHR's screens and does not import them): label, add-on code for more levels.
PROCEDURES = {"64483": ("Transforaminal ESI, lumbar/sacral", "64484"),
              "63655": ("SCS paddle leads via laminectomy", None),
              "63650": ("SCS percutaneous leads (trial or permanent)", None),
              "22514": ("Kyphoplasty, lumbar", None)}
SIDES = {"left": ("LT", "7771000", "Left"), "right": ("RT", "24028007", "Right"),
         "bilateral": ("50", "51440002", "Bilateral"), "midline": (None, None, "Midline")}
SITE_KIND = {pos: kind for pos, _, kind in SITES}


def pending_order(scenario: Scenario, coverage_id: str, encounter_id: str, today: date) -> dict | None:
    """The scenario's default order, signed two days ago (``active``), or None when it has none in
    the queue. Shaped as the order screen writes it: primary CPT, add-on level and laterality
    modifier in ``orderDetail``, body site with level and side, place of service, the practice's
    location in the scenario's state."""
    if scenario.pid not in QUEUE:
        return None
    days, clinician = QUEUE[scenario.pid]
    o = scenario.order
    label, addon = PROCEDURES[o["code"]]
    modifier, snomed, side = SIDES[o.get("laterality") or "left"]
    details = []
    if addon and o.get("levels", 1) > 1:
        details.append({"coding": [{"system": CPT, "code": addon}], "text": f"{o['levels'] - 1} additional level(s)"})
    if modifier:
        details.append({"coding": [{"system": HCPCS, "code": modifier}], "text": f"Modifier {modifier} ({side})"})
    site = {"text": f"{o.get('level', '')} {side}".strip()}
    if snomed:
        site["coding"] = [{"system": "http://snomed.info/sct", "code": snomed, "display": side}]
    order = {
        "resourceType": "ServiceRequest", "id": f"{scenario.pid}-order", "status": "active", "intent": "order",
        "code": {"coding": [{"system": CPT, "code": o["code"], "display": label}], "text": label},
        "quantityQuantity": {"value": o.get("levels", 1), "unit": "level"},
        "subject": {"reference": f"Patient/{scenario.pid}"}, "encounter": {"reference": f"Encounter/{encounter_id}"},
        "occurrenceDateTime": (today + timedelta(days=days)).isoformat(),
        "authoredOn": (today - timedelta(days=2)).isoformat(),
        "requester": {"reference": clinician}, "performer": [{"reference": clinician}],
        "locationCode": [{"coding": [{"system": POS, "code": o["pos"]}]}],
        "locationReference": [{"reference": f"Location/{location_id(scenario.state, SITE_KIND[o['pos']])}"}],
        "bodySite": [site], "insurance": [{"reference": f"Coverage/{coverage_id}"}],
    }
    if details:
        order["orderDetail"] = details
    return order
