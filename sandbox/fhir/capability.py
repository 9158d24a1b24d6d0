"""CapabilityStatement for ``GET /fhir/metadata`` (FHIR R4 RESTful API §3.1.0.9 "capabilities";
SMART App Launch 2.2 §"Conformance": the ``oauth-uris`` extension and the SMART service code).
Generated from the search-parameter table so the statement never claims more than is served.
"""

from __future__ import annotations

from sandbox.fhir.params import COMMON, PARAMS
from sandbox.fhir.validate import R4_TYPES

_DATE = "2026-01-01"


def capability_statement(base: str, auth_base: str) -> dict:
    resources = []
    for rtype in sorted(R4_TYPES):
        params = {**COMMON, **PARAMS.get(rtype, {})}
        refs = [f"{rtype}:{n}" for n, p in PARAMS.get(rtype, {}).items() if p.kind == "reference"]
        resources.append({
            "type": rtype,
            "interaction": [{"code": c} for c in ("read", "search-type", "create", "update", "delete")],
            "versioning": "versioned-update",
            "updateCreate": True,
            "searchInclude": refs,
            "searchParam": [{"name": n, "type": p.kind} for n, p in params.items()],
        })
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _DATE,
        "kind": "instance",
        "software": {"name": "painpa sandbox EHR"},
        "implementation": {"description": "painpa sandbox FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                         "code": "SMART-on-FHIR"}]}],
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "authorize", "valueUri": f"{auth_base}/authorize"},
                                  {"url": "token", "valueUri": f"{auth_base}/token"}],
                }],
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
        }],
    }
