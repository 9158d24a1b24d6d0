"""The patient history painpa reads, declared once: the same list builds the discovery prefetch
templates (CDS Hooks 2.0 §Prefetch Template; CC-4, CC-5: only context tokens, no _include, no
chaining, no modifiers) and the queries issued when a prefetch value is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

# Pain and function scales painpa recognises (domain.md §6.4). The policy reads the same list
# from fhir_profiles/valuesets; here it only narrows the Observation query.
SCALE_CODES = (
    "72514-3", "38208-5", "38214-3", "97908-8", "97909-6", "82226-2", "82237-9", "77865-4", "90974-7",
)


@dataclass(frozen=True)
class Query:
    key: str             # prefetch key in discovery and in the hook request
    template: str        # relative FHIR query with {{context.*}} tokens
    resource_type: str   # what the answer holds (a Bundle of these, or one of these)
    required: bool = False  # without it no determination is possible (patient, coverage)


QUERIES: tuple[Query, ...] = (
    Query("patient", "Patient/{{context.patientId}}", "Patient", required=True),
    Query("coverage", "Coverage?patient={{context.patientId}}&status=active", "Coverage", required=True),
    Query("user", "{{context.userId}}", "Practitioner"),
    Query("conditions", "Condition?patient={{context.patientId}}", "Condition"),
    Query("procedures", "Procedure?patient={{context.patientId}}", "Procedure"),
    Query("medicationRequests", "MedicationRequest?patient={{context.patientId}}", "MedicationRequest"),
    Query("medicationStatements", "MedicationStatement?patient={{context.patientId}}", "MedicationStatement"),
    Query(
        "observations",
        "Observation?patient={{context.patientId}}&code=" + ",".join(f"http://loinc.org|{c}" for c in SCALE_CODES),
        "Observation",
    ),
    Query("diagnosticReports", "DiagnosticReport?patient={{context.patientId}}", "DiagnosticReport"),
    Query("imagingStudies", "ImagingStudy?patient={{context.patientId}}", "ImagingStudy"),
    Query("documentReferences", "DocumentReference?patient={{context.patientId}}", "DocumentReference"),
    Query("priorAuthResponses", "ClaimResponse?patient={{context.patientId}}&use=preauthorization", "ClaimResponse"),
    Query("priorAuthClaims", "Claim?patient={{context.patientId}}&use=preauthorization", "Claim"),
)


def prefetch_templates() -> dict[str, str]:
    return {q.key: q.template for q in QUERIES}
