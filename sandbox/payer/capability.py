"""The payer's CapabilityStatement (FHIR R4 §"CapabilityStatement"; Da Vinci PAS 2.2.1
``PayerCapabilities``: Claim ``$submit`` and ``$inquire``; Subscriptions R4 Backport IG
§"CapabilityStatement": the Subscription resource with the supported topic canonical). Every
operation but this statement needs a bearer token: ``rest.security`` names the token endpoint (SMART
App Launch 2.2 backend-services.md, §"Conformance")."""

from __future__ import annotations

from sandbox.fhir.capability import smart_security
from sandbox.payer.subscriptions import BACKPORT, TOPIC

PAS_OPS = "http://hl7.org/fhir/us/davinci-pas/OperationDefinition"
SECURITY = ("SMART Backend Services: a client_credentials token (private_key_jwt) from the token endpoint with "
            "system/Claim.cr, system/Bundle.r and system/Subscription.crd scopes, sent as "
            "'Authorization: Bearer'; without one, 401 with an OperationOutcome. Discovery: "
            ".well-known/smart-configuration under this base.")


def capability_statement(base: str, auth_base: str, software_version: str, date: str) -> dict:
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": date, "kind": "instance",
        "fhirVersion": "4.0.1", "format": ["application/fhir+json", "json"],
        "instantiates": ["http://hl7.org/fhir/us/davinci-pas/CapabilityStatement/PayerCapabilities"],
        "implementationGuide": ["http://hl7.org/fhir/us/davinci-pas/ImplementationGuide/hl7.fhir.us.davinci-pas",
                                "http://hl7.org/fhir/uv/subscriptions-backport/ImplementationGuide/"
                                "hl7.fhir.uv.subscriptions-backport"],
        "software": {"name": "painpa sandbox payer", "version": software_version},
        "implementation": {"description": "Da Vinci PAS payer of the painpa sandbox", "url": base},
        "rest": [{
            "mode": "server",
            "security": smart_security(auth_base, SECURITY),
            "documentation": "Claim/$submit takes a PAS request Bundle (or a Parameters holding it as 'resource'); "
                             "Claim/$inquire a PAS inquiry Bundle. Pended decisions are announced to rest-hook "
                             "Subscriptions on the PAS topic.",
            "resource": [
                {"type": "Claim", "operation": [
                    {"name": "submit", "definition": f"{PAS_OPS}/Claim-submit"},
                    {"name": "inquire", "definition": f"{PAS_OPS}/Claim-inquiry"}]},
                {"type": "Subscription",
                 "extension": [{"url": f"{BACKPORT}/capabilitystatement-subscriptiontopic-canonical",
                                "valueCanonical": TOPIC}],
                 "interaction": [{"code": "create"}, {"code": "read"}, {"code": "delete"}],
                 "operation": [{"name": "status",
                                "definition": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/"
                                              "backport-subscription-status"}]},
                {"type": "Bundle", "interaction": [{"code": "read"}],
                 "documentation": "The current PAS response Bundle of a decision (the focus of a notification)."},
            ],
        }],
    }
