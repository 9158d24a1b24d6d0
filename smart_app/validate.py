"""Structural validation of what the app writes, before anything leaves it (FHIR R4 4.0.1).

fhir.resources 8 defaults to R5, so the R4B models are used: R4B (4.3) keeps R4's shape for every
resource the app writes (Observation, Procedure, MedicationStatement, DiagnosticReport,
DocumentReference, QuestionnaireResponse, Claim, ClaimResponse, ServiceRequest); the differences
that matter elsewhere (e.g. R4B's Citation/Evidence resources, SubscriptionTopic) do not touch them.
"""

from __future__ import annotations

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError


def invalid_resources(resources: list[dict]) -> list[str]:
    problems = []
    for res in resources:
        rtype = res.get("resourceType", "?")
        try:
            get_fhir_model_class(rtype).model_validate(res)
        except (ValidationError, KeyError, ValueError) as exc:
            first = str(exc).splitlines()
            problems.append(f"{rtype} is not valid FHIR ({' '.join(first[:3])[:200]})")
    return problems
