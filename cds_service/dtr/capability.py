"""The CapabilityStatement at ``{base}/dtr/metadata``: what painpa's DTR payer service does, in the
shape of DTR 2.2.0 CapabilityStatement-dtr-payer-service (``instantiates`` it; kind ``instance``).

Claimed: ``$questionnaire-package`` (SHALL there), Questionnaire ``read`` and ``search-type`` by
``url``, ValueSet ``read`` and ``search-type`` by ``url``. Not claimed, because not implemented:
``$next-question`` (painpa's forms are not adaptive), ``$log-questionnaire-errors`` and ValueSet
``$expand`` (every ValueSet a form names travels in the package, with its codes)."""

from __future__ import annotations

PAYER_SERVICE = "http://hl7.org/fhir/us/davinci-dtr/CapabilityStatement/dtr-payer-service"


def capability_statement(base: str, software_version: str, date: str) -> dict:
    search_by_url = [{"name": "url", "definition": "http://hl7.org/fhir/SearchParameter/conformance-url",
                      "type": "uri"}]
    return {
        "resourceType": "CapabilityStatement",
        "id": "painpa-dtr-payer-service",
        "url": base + "/metadata",
        "name": "PainpaDTRPayerService",
        "title": "painpa DTR payer service",
        "status": "active",
        "date": date,
        "publisher": "painpa",
        "description": "Questionnaires for the documentation painpa's coverage rules need (interventional pain: "
                       "epidural steroid injections, spinal cord / peripheral nerve stimulators, vertebral "
                       "augmentation; chronic pain management), served to DTR SMART apps and EHRs with native DTR.",
        "kind": "instance",
        "instantiates": [PAYER_SERVICE],
        "software": {"name": "painpa", "version": software_version},
        "implementation": {"description": "painpa DTR payer service", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "$questionnaire-package needs a JWT signed by a client registered with painpa "
                             "(the one its CRD calls use, aud = the operation URL); Questionnaire and ValueSet "
                             "reads are public (no patient data).",
            "security": {"description": "Bearer JWT of a registered client (see docs/dtr.md)."},
            "resource": [
                {"type": "Questionnaire",
                 "supportedProfile": ["http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/dtr-std-questionnaire"],
                 "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": search_by_url,
                 "operation": [{"name": "questionnaire-package",
                                "definition": "http://hl7.org/fhir/us/davinci-dtr/OperationDefinition/questionnaire-package"}]},
                {"type": "ValueSet", "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": search_by_url},
            ],
        }],
    }
