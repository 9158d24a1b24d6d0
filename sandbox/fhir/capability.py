"""CapabilityStatement for ``GET /fhir/metadata`` (FHIR R4 RESTful API §3.1.0.9 "capabilities";
SMART App Launch 2.2 §"Conformance": the ``oauth-uris`` extension with authorize, token and register,
and the SMART service code). Generated from the search-parameter table so the statement never claims
more than is served: conditional create and update, conditional read by ``If-None-Match`` only
(``not-match``), no conditional delete, one level of chaining on each reference parameter whose target
type is known (said in its documentation: R4 has no element for it), and the handling of unsupported
parameters (``rest.documentation``).
"""

from __future__ import annotations

from sandbox.fhir.params import COMMON, PARAMS, Param
from sandbox.fhir.validate import R4_TYPES

_DATE = "2026-12-07"
HANDLING = ("Search parameters this server does not support are refused with 400 and an OperationOutcome under "
            "'Prefer: handling=strict'; otherwise they are not applied and are left out of the Bundle's self link. "
            "Chaining: one level, on reference parameters whose target type is known or named by a type "
            "modifier (patient.identifier, subject:Patient.identifier). Not supported: _has, reverse chaining, "
            "_revinclude, history, conditional delete. Conditional create and update search with strict handling.")


def _search_param(name: str, param: Param) -> dict:
    out = {"name": name, "type": param.kind}
    if param.kind == "reference" and param.target in PARAMS:
        chained = ", ".join(sorted({**COMMON, **PARAMS[param.target]}))
        out["documentation"] = f"Chaining to {param.target}: {name}.<{chained}>"
    elif param.kind == "reference":
        out["documentation"] = f"Chaining with a type modifier, e.g. {name}:Patient.identifier"
    return out


def smart_security(auth_base: str, description: str | None = None) -> dict:
    """``rest.security`` of a server protected by the sandbox authorization server (SMART 2.2
    §"Conformance"); the payer's statement uses it too."""
    security = {
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR"}]}],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "authorize", "valueUri": f"{auth_base}/authorize"},
                          {"url": "token", "valueUri": f"{auth_base}/token"},
                          {"url": "register", "valueUri": f"{auth_base}/register"}],
        }],
    }
    if description:
        security["description"] = description
    return security


def capability_statement(base: str, auth_base: str) -> dict:
    resources = []
    for rtype in sorted(R4_TYPES):
        params = {**COMMON, **PARAMS.get(rtype, {})}
        refs = [f"{rtype}:{n}" for n, p in PARAMS.get(rtype, {}).items() if p.kind == "reference"]
        resources.append({
            "type": rtype,
            "interaction": [{"code": c} for c in ("read", "search-type", "create", "update", "delete")],
            "versioning": "versioned-update",
            "readHistory": False,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-match",
            "conditionalUpdate": True,
            "conditionalDelete": "not-supported",
            "searchInclude": refs,
            "searchParam": [_search_param(n, p) for n, p in params.items()],
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
            "security": smart_security(auth_base),
            "documentation": HANDLING,
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
        }],
    }
