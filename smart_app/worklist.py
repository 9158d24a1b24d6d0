"""The documentation worklist (issue 5; ARCHITECTURE.md "one truth for 'is this order ready'"):
the orders in context, gathered and evaluated by the very ``gather`` and ``evaluate`` the CDS
service uses, recomputed from the FHIR server after every change.

Orders in context come from the card's redeemed ``appContext`` handle, else from ``fhirContext``
ServiceRequests, else every pending (draft/active) ServiceRequest of the patient that the policy
recognises as an ESI, stimulator or vertebral-augmentation order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

from cds_service.clients import client_for_fhir_base
from cds_service.fhir.gather import gather
from cds_service.policy.model import Determination
from cds_service.policy.record import PatientRecord, TenantDefaults
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


def policies(app) -> object:
    """The loaded PolicySet (the CDS layer stores it in ``app.extensions``; loaded here otherwise)."""
    loaded = app.extensions.get("painpa.policies")
    if loaded is None:
        from cds_service.policy.loader import load_policies

        loaded = load_policies()
        app.extensions["painpa.policies"] = loaded
    return loaded


def _order_refs(context, card: dict | None) -> list[str]:
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
            notes.append(f"{ref} could not be read; showing the patient's other pending orders.")
            continue
        subject = ((order.get("subject") or {}).get("reference") or "").split("/")[-1]
        if order.get("resourceType") == "ServiceRequest" and subject == patient_id:
            orders.append(order)
        else:
            notes.append(f"{ref} is not an order of this patient and is ignored.")
    if not orders:
        orders = fhir.search("ServiceRequest", {"patient": patient_id, "status": PENDING})
    return orders


def build(app, fhir: AppFhir, context, card: dict | None, today: date) -> Worklist:
    from cds_service.policy.engine import evaluate

    started = time.perf_counter()
    settings = app.extensions["painpa.settings"]
    db = app.extensions["painpa.db"]
    notes: list[str] = []
    patient_id = context.patient
    orders = _orders(fhir, patient_id, _order_refs(context, card), notes)
    client = client_for_fhir_base(db, fhir.base)
    record = gather(patient_id=patient_id, settings=settings, fhir_server=fhir.base, access_token=fhir.token,
                    orders=orders, defaults=client.defaults if client else TenantDefaults(),
                    context={"encounterId": context.encounter} if context.encounter else None)
    for order in orders:
        record.add(order)
    dets = evaluate(orders, record, policies(app), today) if orders else []
    kept = [(o, d) for o, d in zip(orders, dets, strict=True) if d.in_scope]
    if record.incomplete:
        notes.append("Some of the chart could not be read (" + ", ".join(sorted(record.incomplete))
                      + "); requirements that depend on it show as unknown.")
    return Worklist(patient=record.patient, orders=[o for o, _ in kept], determinations=[d for _, d in kept],
                    record=record, notes=notes, elapsed_ms=(time.perf_counter() - started) * 1000)
