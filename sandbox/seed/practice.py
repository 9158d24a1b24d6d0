"""The practice's shared resources: the signed-in clinician, payers and service locations.

Payer organizations carry identifiers a plan pack can match on; locations carry the CMS place of
service (``Location.type``) and the state of service (``Location.address.state``), which decide
WISeR (six states) and the OPD program (hospital outpatient) in the policy data.
"""

from __future__ import annotations

from sandbox.codes import POS, cc

STATES = {"TX": "Austin", "OH": "Columbus", "NJ": "Newark", "AZ": "Phoenix", "WA": "Seattle", "OK": "Tulsa",
          "CA": "Sacramento", "FL": "Tampa", "NY": "Albany"}
SITES = (("11", "Spine & Pain Clinic", "office"), ("24", "Surgery Center", "asc"),
         ("22", "Hospital Outpatient Dept", "hopd"))

# The two "example" identifiers are the ones the example plan packs under
# fhir_profiles/policies/packs/ match on; the others have no pack on purpose.
PACK_PAYER = "http://painpa.org/fhir/sid/example-payer"
PAYERS = {
    "payer-medicare": ("Medicare Part A/B (MAC)", "urn:painpa:sandbox:payer-id", "MEDICARE"),
    "payer-example-ma": ("Example Advantage Plan", PACK_PAYER, "EXAMPLE-MA-EVICORE"),
    "payer-sunrise-ma": ("Sunrise Medicare Advantage", "urn:painpa:sandbox:payer-id", "SUNMA"),
    "payer-example-blue": ("Example Blue Commercial", PACK_PAYER, "EXAMPLE-COMMERCIAL-BCBS"),
    "payer-acme": ("Acme Health PPO", "urn:painpa:sandbox:payer-id", "ACME"),
}


PAS_ENDPOINT_ID = "sandbox-pas"


def pas_endpoint(base_url: str) -> dict:
    """Where the payers' Da Vinci PAS API is (Organization.endpoint → Endpoint.address): the sandbox
    payer. Rewritten at every start because the address depends on the port."""
    return {"resourceType": "Endpoint", "id": PAS_ENDPOINT_ID, "status": "active", "name": "Sandbox payer (Da Vinci PAS)",
            "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                               "code": "hl7-fhir-rest"},
            "payloadType": [{"text": "Da Vinci PAS 2.2.1 Claim/$submit, Claim/$inquire"}],
            "address": f"{base_url}/payer"}


def location(lid: str, name: str, pos: str, state: str, city: str) -> dict:
    """A service location: its CMS place of service in ``type``, its state in ``address``."""
    return {"resourceType": "Location", "id": lid, "status": "active", "name": name,
            "type": [cc(POS, pos, name)], "address": {"city": city, "state": state, "country": "US"}}


def location_id(state: str, kind: str) -> str:
    return f"loc-{state.lower()}-{kind}"


def practice_bundle() -> dict:
    resources: list[dict] = [{
        "resourceType": "Practitioner", "id": "sbx-dr-lee", "active": True,
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1999999984"}],
        "name": [{"family": "Lee", "given": ["Jordan"], "prefix": ["Dr."]}],
    }, {
        "resourceType": "Practitioner", "id": "sbx-dr-patel", "active": True,
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1999999992"}],
        "name": [{"family": "Patel", "given": ["Priya"], "prefix": ["Dr."]}],
    }]
    for oid, (name, system, value) in PAYERS.items():
        resources.append({"resourceType": "Organization", "id": oid, "active": True, "name": name,
                          "identifier": [{"system": system, "value": value}],
                          "endpoint": [{"reference": f"Endpoint/{PAS_ENDPOINT_ID}"}],
                          "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                                                "code": "pay", "display": "Payer"}]}]})
    for state, city in STATES.items():
        for pos, label, kind in SITES:
            resources.append(location(location_id(state, kind), f"{city} {label}", pos, state, city))
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]}
