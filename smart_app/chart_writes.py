"""The app's writes to a chart, recorded for the order-select → order-sign warm cache
(cds_service/fhir/warm.py): once the app has saved a form, a PAS decision or a draft to a patient's
chart, an order-sign for that patient reads the chart again instead of answering from what was read
before the write. The patients are those the transaction's resources are about."""

from __future__ import annotations

from cds_service import state
from cds_service.config import secret_key
from cds_service.fhir import warm

# The elements through which the resources the app writes name their patient (FHIR R4:
# QuestionnaireResponse.subject, Observation.subject, Claim.patient, ClaimResponse.patient, ...).
PATIENT_ELEMENTS = ("subject", "patient", "beneficiary")


def patients(bundle: dict) -> set[str]:
    """The ids of the patients the ``bundle``'s resources are about (relative or absolute references)."""
    found: set[str] = set()
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
            found.add(resource["id"])
        for element in PATIENT_ELEMENTS:
            ref = (resource.get(element) or {}).get("reference") if isinstance(resource.get(element), dict) else None
            parts = ref.rstrip("/").split("/") if isinstance(ref, str) else []
            if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
                found.add(parts[-1])
    return found


def record(base: str, bundle: dict) -> None:
    """``AppFhir``'s ``on_write``: the charts of ``bundle``'s patients on ``base`` changed now."""
    app = state.current()
    salt = secret_key(app.settings)
    for patient_id in patients(bundle):
        warm.chart_written(app.db, salt, base, patient_id)
