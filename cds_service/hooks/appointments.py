"""The appointment-book service (CDS Hooks appointment-book 1.0; CRD 2.0.1 / 2.2.1 hooks.md
"appointment-book", a primary hook: coverage information on every invocation, 2.2 hook-26; CRD
2.2.1 cards.md "Coverage Information" (FHIR-50318): an Appointment ``basedOn`` a ServiceRequest is
annotated on the ServiceRequest, not the Appointment — in 2.0.1, whose extension context omits
Appointment, the ServiceRequest is the only valid place anyway).

Booking the procedure is checked before the slot is taken: each Appointment's ServiceRequest is read
(from the prefetch, else from the EHR's FHIR server with the call's token) and put to the same
readiness assessment as order-sign (:func:`cds_service.readiness.assess` through
:meth:`HookCall.assess`), as if performed on the appointment's date — so a UTN that lapses before
that date, a pending or missing PA and missing documentation come back as the order-sign cards
would say them, and the ServiceRequest gets coverage-information for that date. An Appointment
based on no ServiceRequest painpa can read is answered with the answered version's "no
determination" on the Appointment itself, never silence.
"""

from __future__ import annotations

from cds_service.fhir.gather import read_one
from cds_service.hooks.orders import require_chart, respond
from cds_service.hooks.request import ID_RE
from cds_service.hooks.service import HookCall, HookResult, ServiceDef
from cds_service.policy.chart import to_date
from cds_service.policy.record import PatientRecord
from cds_service.readiness import ChartAccess

_OCCURRENCE = ("occurrenceDateTime", "occurrencePeriod", "occurrenceTiming")


def _based_on(appointment: dict) -> str | None:
    """The first ``ServiceRequest/id`` the appointment is based on (relative, or an absolute one's
    tail: it is read under the call's registered FHIR base only, never where the reference points)."""
    for ref in appointment.get("basedOn") or ():
        text = ref.get("reference") if isinstance(ref, dict) else None
        parts = text.rstrip("/").split("/") if isinstance(text, str) else []
        if len(parts) >= 2 and parts[-2] == "ServiceRequest" and ID_RE.match(parts[-1]):
            return f"ServiceRequest/{parts[-1]}"
    return None


def _read(call: HookCall, access: ChartAccess, ref: str) -> dict | None:
    """The ServiceRequest ``ref``: from the prefetch, else one read on the EHR's FHIR server."""
    prefetched = PatientRecord()
    for value in access.prefetch.values():
        prefetched.add(value)
    if (found := prefetched.resolve(ref)) is not None:
        return found
    if not access.can_query:
        return None
    resource = read_one(ref, settings=call.settings, fhir_server=access.fhir_server,
                        access_token=access.access_token, pool=call.pool)
    return resource if isinstance(resource, dict) and resource.get("resourceType") == "ServiceRequest" else None


def on_date(order: dict, appointment: dict) -> dict:
    """``order`` as performed at the appointment's start (the assessment's date of service); the
    order itself when the appointment has no start."""
    start = appointment.get("start")
    if to_date(start) is None:
        return order
    dated = {k: v for k, v in order.items() if k not in _OCCURRENCE}
    dated["occurrenceDateTime"] = start
    return dated


def run(call: HookCall) -> HookResult:
    req = call.request
    access = call.chart_access()
    assessed: list[dict] = []      # what the assessment reads: the order on the appointment's date
    annotated: list[dict] = []     # what the coverage-information update carries: the resource as stored
    seen: set[str] = set()
    for appointment in req.appointments:
        ref = _based_on(appointment)
        order = _read(call, access, ref) if ref else None
        target = order if order is not None else appointment
        key = f"{target['resourceType']}/{target.get('id')}"
        if key in seen:             # two slots for one order: the first one booked is checked
            continue
        seen.add(key)
        assessed.append(on_date(order, appointment) if order is not None else appointment)
        annotated.append(target)
    assessment = call.assess(call.question(assessed), access)
    require_chart(call, access, assessment)
    return respond(call, assessment, annotated)


SERVICES: tuple[ServiceDef, ...] = (
    ServiceDef(
        id="painpa-appointment-book",
        hook="appointment-book",
        title="painpa: prior-authorization readiness (appointment book)",
        description="Before an interventional pain procedure is booked, checks its order on the appointment "
                    "date: prior authorization on file and valid that day, and documentation still missing.",
        handler=run,
    ),
)
