"""The documentation worklist (ARCHITECTURE.md: one truth for "is this order ready"): the orders
in context, assessed by the same readiness assessment the CDS service's cards come from
(:mod:`cds_service.readiness`), recomputed from the FHIR server after every change.

Orders in context come from the card's redeemed ``appContext`` handle, else from ``fhirContext``
ServiceRequests, else every pending (draft/active) ServiceRequest of the patient that the policy
recognises as an ESI, stimulator or vertebral-augmentation order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from cds_service import readiness, state
from cds_service.clients import client_for_fhir_base
from cds_service.fhir.queries import QUERIES, Query
from cds_service.policy.model import Determination
from cds_service.policy.record import PatientRecord
from smart_app.context import LaunchContext
from smart_app.discovery import LaunchError
from smart_app.fhir import AppFhir, FhirAccessError

PENDING = "draft,active"


@dataclass
class Worklist:
    patient: dict | None
    orders: list[dict]
    determinations: list[Determination]
    record: PatientRecord
    notes: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0

    def determination(self, order_ref: str) -> Determination | None:
        return next((d for d in self.determinations if d.order_ref == order_ref), None)

    def order(self, order_ref: str) -> dict | None:
        return next((o for o in self.orders if f"ServiceRequest/{o.get('id')}" == order_ref), None)


def _order_refs(context: LaunchContext, card: dict | None) -> list[str]:
    refs: list[str] = []
    for ref in (card or {}).get("orders") or ():
        if isinstance(ref, str) and ref.startswith("ServiceRequest/"):
            refs.append(ref)
    if not refs:
        refs = context.references_of("ServiceRequest")
    return list(dict.fromkeys(refs))


def _orders(fhir: AppFhir, patient_id: str, refs: list[str], notes: list[str]) -> list[dict]:
    orders: list[dict] = []
    for ref in refs:
        try:
            order = fhir.read(ref)
        except FhirAccessError:
            notes.append("An order the EHR sent with this launch could not be read; showing the patient's "
                         "other pending orders.")
            continue
        subject = ((order.get("subject") or {}).get("reference") or "").split("/")[-1]
        if order.get("resourceType") == "ServiceRequest" and subject == patient_id:
            orders.append(order)
        else:
            notes.append("An order the EHR sent with this launch is not this patient's and is ignored.")
    if not orders:
        orders = fhir.search("ServiceRequest", {"patient": patient_id, "status": PENDING})
    return orders


def assess(fhir: AppFhir, context: LaunchContext, orders: Sequence[dict], today: date,
           queries: Sequence[Query] = QUERIES) -> readiness.Assessment:
    """The readiness of ``orders`` for the launched patient, from the chart this session's token reads."""
    if not context.patient:   # a coordinator's session (no patient) reaches a patient through its queue
        raise LaunchError("This window has no patient: open one from the coordinator queue.", 400)
    app = state.current()
    question = readiness.Question(context.patient, tuple(orders), encounter_id=context.encounter,
                                  client=client_for_fhir_base(app.db, fhir.base))
    return readiness.assess(question, readiness.ChartAccess(fhir.base, fhir.token), settings=app.settings,
                            policies=app.policies, today=today, db=app.db, pool=app.fhir_pool, queries=queries)


def build(fhir: AppFhir, context: LaunchContext, card: dict | None, today: date) -> Worklist:
    started = time.perf_counter()
    notes: list[str] = []
    orders = _orders(fhir, context.patient, _order_refs(context, card), notes)
    assessment = assess(fhir, context, orders, today)
    record = assessment.record
    kept = [(o, d) for o, d in zip(orders, assessment.determinations, strict=True) if d.in_scope]
    if record.incomplete:
        notes.append("Some of the chart could not be read (" + ", ".join(sorted(record.incomplete))
                     + "); requirements that depend on it show as unknown.")
    return Worklist(patient=record.patient, orders=[o for o, _ in kept], determinations=[d for _, d in kept],
                    record=record, notes=notes, elapsed_ms=(time.perf_counter() - started) * 1000)


def patient_chart(fhir: AppFhir, context: LaunchContext, today: date, queries: Sequence[Query]) -> Worklist:
    """The launched patient's chart with no order (a patient-level page reads ``queries``)."""
    record = assess(fhir, context, (), today, queries).record
    return Worklist(patient=record.patient, orders=[], determinations=[], record=record)
