"""What the chronic pain management service reads (G3002/G3003, domain.md §4), declared once for
its discovery prefetch templates and for the queries issued when prefetch lacks them (CDS Hooks 2.0
§Prefetch Template: context tokens and token search parameters only)."""

from __future__ import annotations

from cds_service.fhir.queries import SCALE_CODES, Query

CPM_SYSTEM = "http://painpa.org/fhir/CodeSystem/painpa-cpm"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"

QUERIES: tuple[Query, ...] = (
    Query("patient", "Patient/{{context.patientId}}", "Patient", required=True),
    Query("conditions", "Condition?patient={{context.patientId}}", "Condition"),
    Query("encounters", "Encounter?patient={{context.patientId}}&status=finished", "Encounter"),
    Query("cpmObservations", "Observation?patient={{context.patientId}}&code=" + ",".join(
        [f"http://loinc.org|{c}" for c in SCALE_CODES] + [f"{CPM_SYSTEM}|cpm-minutes", f"{CPM_SYSTEM}|cpm-strengths"]),
        "Observation"),
    Query("cpmProcedures", f"Procedure?patient={{{{context.patientId}}}}&code={HCPCS}|G3002,{HCPCS}|G3003", "Procedure"),
    Query("carePlans", "CarePlan?patient={{context.patientId}}&status=active", "CarePlan"),
    Query("goals", "Goal?patient={{context.patientId}}", "Goal"),
)


def prefetch_templates() -> dict[str, str]:
    return {q.key: q.template for q in QUERIES}
