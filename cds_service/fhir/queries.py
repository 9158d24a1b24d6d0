"""The patient history painpa reads, declared once: the same list builds the discovery prefetch
templates (CDS Hooks 2.0 §Prefetch Template; CC-4, CC-5: only context tokens, no _include, no
chaining, no modifiers) and the queries issued when a prefetch value is missing.

The order's context (its encounter, the ordering practitioner's role, the locations and organizations
they name, the coverage's payor) is asked for with the keys and template forms of CRD 2.2.1's
standard prefetch (``CRDServices.json``; CRD "Additional prefetch capabilities": FHIRPath tokens
over ``context`` and earlier prefetch keys, functions ``ofType()``/``resolve()``, no ``_include``,
which the CDS Hooks work group left out of the proposal CRD pre-adopts). A CDS Hooks 2.0 client that
cannot fill such a token omits the key (CH2 §Prefetch: "MUST NOT send keys it chose not to
satisfy"); painpa then reads what the orders point to itself (cds_service/fhir/gather.py).
docs/performance.md "Prefetch" says which forms are portable and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

_VALUESETS = Path(__file__).resolve().parents[2] / "fhir_profiles" / "valuesets"


def _loinc_codes(*valueset_ids: str) -> tuple[str, ...]:
    """Codes of the scale ValueSets the policy reads (domain.md §6.4): one list, kept in the data."""
    codes: list[str] = []
    for vs_id in valueset_ids:
        valueset = json.loads((_VALUESETS / f"{vs_id}.json").read_text())
        for include in valueset["compose"]["include"]:
            codes += [c["code"] for c in include.get("concept", ()) if include.get("system") == "http://loinc.org"]
    return tuple(dict.fromkeys(codes))


SCALE_CODES = _loinc_codes("pain-intensity-scales", "function-scales")
# Attestations the SMART app records (functional restoration, multidisciplinary evaluation, ...):
# searched by system alone, which FHIR token search allows (``system|``).
ATTESTATION_SYSTEM = json.loads((_VALUESETS / "painpa-attestation.json").read_text())["url"]


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
        "Observation?patient={{context.patientId}}&code="
        + ",".join([f"http://loinc.org|{c}" for c in SCALE_CODES] + [f"{ATTESTATION_SYSTEM}|"]),
        "Observation",
    ),
    Query("diagnosticReports", "DiagnosticReport?patient={{context.patientId}}", "DiagnosticReport"),
    Query("imagingStudies", "ImagingStudy?patient={{context.patientId}}", "ImagingStudy"),
    Query("documentReferences", "DocumentReference?patient={{context.patientId}}", "DocumentReference"),
    Query("priorAuthResponses", "ClaimResponse?patient={{context.patientId}}&use=preauthorization", "ClaimResponse"),
    Query("priorAuthClaims", "Claim?patient={{context.patientId}}&use=preauthorization", "Claim"),
    # Earlier orders: a coverage-information extension with ``satisfied-pa-id`` on an order the payer
    # already authorized (CRD coverage-information). The draft orders of the hook call may
    # come back too; the policy reads the draft version of those.
    Query("serviceRequests", "ServiceRequest?patient={{context.patientId}}", "ServiceRequest"),
)


# Who ordered and where (CRD 2.2.1 CRDServices.json, order-select and order-sign, these keys verbatim),
# plus the Coverage's payor Organization in ``organizations`` (the same form: a ``%coverage`` prefetch
# variable, listed after ``coverage`` as CRD dev-18 requires): the payer routing reads its identifiers.
_ROLES = ("%encounter.participant.individual", "context.draftOrders.entry.resource.sender",
          "context.draftOrders.entry.resource.recipient", "context.draftOrders.entry.resource.requester",
          "context.draftOrders.entry.resource.performer", "context.draftOrders.entry.resource.orderer",
          "context.draftOrders.entry.resource.prescriber")
CONTEXT_PREFETCH: dict[str, str] = {
    "encounter": "Encounter/{{context.encounterId}}",
    "practitionerRoles": "PractitionerRole?_id={{" + "|".join(f"{p}.resolve().ofType(PractitionerRole).id"
                                                             for p in _ROLES) + "}}",
    "organizations": "Organization?_id={{%practitionerRoles.entry.resource.organization.resolve().id"
                     "|%encounter.serviceProvider.resolve().ofType(Organization).id"
                     "|context.draftOrders.entry.resource.dispenseRequest.performer.resolve().id"
                     "|context.draftOrders.entry.resource.sender.resolve().ofType(Organization).id"
                     "|context.draftOrders.entry.resource.recipient.resolve().ofType(Organization).id"
                     "|context.draftOrders.entry.resource.performer.resolve().ofType(Organization).id"
                     "|%coverage.entry.resource.payor.resolve().ofType(Organization).id}}",
    "locations": "Location?_id={{%practitionerRoles.entry.resource.location.resolve().id"
                 "|%encounter.location.location.resolve().id"
                 "|context.draftOrders.entry.resource.locationReference.resolve().id}}",
}
# The types whose every reference from the order's context an honoured key above answers: a
# reference of such a type that the answer lacks is not read again (CH2 §Prefetch: prefetched data
# "MUST equal" what the service would get by querying; a read would find nothing more).
CONTEXT_TYPES = {"practitionerRoles": "PractitionerRole", "locations": "Location"}   # organizations: never read


def prefetch_templates() -> dict[str, str]:
    """Discovery's templates: the history queries, then the order's context (``%key`` variables
    refer to keys listed before them)."""
    return {q.key: q.template for q in QUERIES} | CONTEXT_PREFETCH
