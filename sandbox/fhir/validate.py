"""Validation of written resources with the ``fhir.resources.R4B`` models (FHIR R4 RESTful API
§3.1.0.4: a server SHALL reject invalid content with 400/422 and an OperationOutcome).

Where R4B (4.3.0) differs from R4 (4.0.1): R4B adds resource types R4 does not have (e.g.
``SubscriptionTopic``, ``Citation``, ``ClinicalUseDefinition``) and renames or reshapes a few
definitional resources (``MedicinalProduct*`` → ``MedicinalProductDefinition``). The clinical and
financial resources this server stores (Patient … ClaimResponse) are unchanged on the wire, so
R4B models validate them as R4; the R4B-only types are refused by ``R4_TYPES`` below.
"""

from __future__ import annotations

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from sandbox.fhir.bindings import violations
from sandbox.fhir.outcome import FhirError, issue

# The R4 resource types this server accepts (a subset of R4 4.0.1 §"Resource Index").
R4_TYPES = frozenset({
    "Patient", "Practitioner", "PractitionerRole", "Organization", "Location", "Encounter", "Coverage",
    "Condition", "Procedure", "Observation", "DiagnosticReport", "ImagingStudy", "DocumentReference",
    "MedicationRequest", "MedicationStatement", "Medication", "ServiceRequest", "DeviceRequest",
    "CarePlan", "Goal", "Claim", "ClaimResponse", "Questionnaire", "QuestionnaireResponse", "Task",
    "Provenance", "AllergyIntolerance", "Binary", "Communication", "Endpoint", "Appointment",
})


def check_type(resource_type: str) -> None:
    if resource_type not in R4_TYPES:
        raise FhirError(404, f"Resource type {resource_type!r} is not supported by this server", "not-supported")


def validate(resource: object, expected_type: str | None = None) -> dict:
    """Return the resource unchanged if it is a valid R4 resource of ``expected_type``; else raise."""
    if not isinstance(resource, dict):
        raise FhirError(400, "The body must be a FHIR resource as a JSON object", "structure")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise FhirError(400, "The resource has no resourceType", "structure")
    check_type(rtype)
    if expected_type and rtype != expected_type:
        raise FhirError(400, f"resourceType {rtype!r} does not match the URL's type {expected_type!r}", "invalid")
    try:
        get_fhir_model_class(rtype).model_validate(resource)
    except ValidationError as exc:
        issues = [
            issue("structure", err.get("msg", "invalid"), expression=_expression(rtype, err.get("loc", ())))
            for err in exc.errors()[:20]
        ]
        raise FhirError(422, f"{rtype} failed validation", issues=issues) from None
    problems = violations(resource)
    if problems:
        raise FhirError(422, f"{rtype} failed validation", issues=problems)
    return resource


def _expression(rtype: str, loc: tuple) -> str:
    path = rtype
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
