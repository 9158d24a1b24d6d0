"""Draft orders as the EHR sends them in ``context.draftOrders`` (CDS Hooks order-select /
order-sign 1.0; CRD 2.x §"What CRD clients send": a billing coding on the order), and the
Appointment that schedules a signed order (appointment-book 1.0 ``context.appointments``; CRD
profile-appointment-with-order: ``basedOn`` the ServiceRequest). One
ServiceRequest per procedure: the primary CPT in ``code``; add-on levels and modifiers (LT, RT,
50) as CPT/HCPCS codings in ``orderDetail``; the service site as a contained Location carrying
the state and the CMS place of service, so a CDS service needs no extra query to route it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sandbox.codes import CPT, HCPCS, POS
from sandbox.fhir.outcome import FhirError
from sandbox.fhir.validate import validate
from sandbox.seed.practice import STATES

# Order catalog for the EHR's order entry: family → (code, label, add-on code for more levels).
ORDERABLES = {
    "esi": [
        ("64483", "Transforaminal ESI, lumbar/sacral", "64484"),
        ("64479", "Transforaminal ESI, cervical/thoracic", "64480"),
        ("62323", "Interlaminar ESI, lumbar/sacral", None),
        ("62321", "Interlaminar ESI, cervical/thoracic", None),
    ],
    "scs": [
        ("63650", "SCS percutaneous leads (trial or permanent)", None),
        ("63655", "SCS paddle leads via laminectomy", None),
        ("63685", "SCS pulse generator insertion", None),
    ],
    "pva": [
        ("22514", "Kyphoplasty, lumbar", None),
        ("22513", "Kyphoplasty, thoracic", None),
        ("22511", "Vertebroplasty, lumbosacral", None),
        ("22510", "Vertebroplasty, cervicothoracic", None),
    ],
}

SETTINGS = {  # place of service offered on the order screen
    "11": "Office",
    "24": "Ambulatory surgical center",
    "22": "Hospital outpatient department (on campus)",
    "19": "Hospital outpatient department (off campus)",
}

LATERALITY = {"left": ("LT", "7771000", "Left"), "right": ("RT", "24028007", "Right"),
              "bilateral": ("50", "51440002", "Bilateral"), "midline": (None, None, "Midline")}


def catalog() -> dict:
    return {family: [{"code": c, "label": label, "addon": addon} for c, label, addon in items]
            for family, items in ORDERABLES.items()}


def draft_service_request(form: dict, *, patient: str, encounter: str | None, coverage: str | None,
                          user: str, today: date) -> dict:
    family, code = form.get("family"), form.get("code")
    known = {c: addon for c, _, addon in ORDERABLES.get(family or "", [])}
    if code not in known:
        raise FhirError(400, f"Order code {code!r} is not orderable under {family!r}", "value")
    try:
        levels = max(1, min(3, int(form.get("levels") or 1)))
        when = date.fromisoformat(form.get("date") or today.isoformat())
    except ValueError:
        raise FhirError(400, "levels must be 1-3 and date an ISO date (YYYY-MM-DD)", "value") from None
    pos, state = form.get("pos") or "11", (form.get("state") or "").upper()
    if pos not in SETTINGS or state not in STATES:
        raise FhirError(400, f"Unknown setting {pos!r} or state {state!r}", "value")
    modifier, snomed, side = LATERALITY.get(form.get("laterality") or "left", LATERALITY["left"])
    label = next(lbl for c, lbl, _ in ORDERABLES[family] if c == code)
    details = []
    if known[code] and levels > 1:
        details.append({"coding": [{"system": CPT, "code": known[code]}], "text": f"{levels - 1} additional level(s)"})
    if modifier:
        details.append({"coding": [{"system": HCPCS, "code": modifier}], "text": f"Modifier {modifier} ({side})"})
    site = {"text": f"{form.get('level') or ''} {side}".strip()}
    if snomed:
        site["coding"] = [{"system": "http://snomed.info/sct", "code": snomed, "display": side}]
    resource = {
        "resourceType": "ServiceRequest", "id": form.get("draft_id") or "draft",
        "contained": [{"resourceType": "Location", "id": "site", "name": f"{SETTINGS[pos]}, {state}",
                       "type": [{"coding": [{"system": POS, "code": pos, "display": SETTINGS[pos]}]}],
                       "address": {"state": state, "country": "US"}}],
        "status": "draft", "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "387713003",
                                  "display": "Surgical procedure"}]}],
        "code": {"coding": [{"system": CPT, "code": code, "display": label}], "text": label},
        "orderDetail": details or None, "quantityQuantity": {"value": levels, "unit": "level"},
        "subject": {"reference": f"Patient/{patient}"},
        "encounter": {"reference": f"Encounter/{encounter}"} if encounter else None,
        "occurrenceDateTime": when.isoformat(), "authoredOn": today.isoformat(),
        "requester": {"reference": user}, "performer": [{"reference": user}],
        "locationCode": [{"coding": [{"system": POS, "code": pos, "display": SETTINGS[pos]}]}],
        "locationReference": [{"reference": "#site"}], "bodySite": [site],
        "insurance": [{"reference": f"Coverage/{coverage}"}] if coverage else None,
    }
    return validate({k: v for k, v in resource.items() if v is not None}, "ServiceRequest")


def appointment(order: dict, start: str, *, patient: str, user: str, appointment_id: str) -> dict:
    """A proposed Appointment for ``order`` on the day ``start`` (YYYY-MM-DD), 9:00-9:30 UTC."""
    try:
        begins = datetime.fromisoformat(f"{start}T09:00:00+00:00")
    except ValueError:
        raise FhirError(400, "The appointment date must be an ISO date (YYYY-MM-DD)", "value") from None
    label = (order.get("code") or {}).get("text") or "Procedure"
    resource = {
        "resourceType": "Appointment", "id": appointment_id, "status": "proposed",
        "basedOn": [{"reference": f"ServiceRequest/{order['id']}"}],
        "serviceType": [{"text": label}], "description": label,
        "start": begins.isoformat().replace("+00:00", "Z"),
        "end": (begins + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
                        {"actor": {"reference": user}, "status": "accepted"}],
    }
    return validate(resource, "Appointment")
