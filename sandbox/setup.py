"""First-start setup of the sandbox (idempotent, run on every start): the SMART clients of the
sandbox authorization server, the sandbox EHR's registration as a CDS client of painpa, and the
synthetic patients when the FHIR store is empty.

painpa's app is one client of the sandbox with two grants: the authorization-code grant for its SMART
launch, and the client_credentials grant (SMART App Launch 2.2 backend-services.md) with the
``system/`` scopes of the payer's Da Vinci PAS API, by which its PAS submit gets the payer's token.
Both authenticate with painpa's own keys (its JWKS URL), the same way, and both are limited to the
scopes painpa asks for (backend-services.md: "within the scope pre-authorized to the client"): its
launch scopes in either dialect, and ``smart_app.backend.PAS_SCOPES``; nothing else, and no
``system/`` access to the EHR's FHIR API.

The EHR is registered through ``cds_service.clients.add_client``, the code behind
``painpa clients add`` (CDS Hooks 2.0 §"Trusting CDS Clients"): its own ES384 public key, and its
FHIR base registered explicitly as the only ``fhirServer`` it may name.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import func, select

from cds_service import state
from cds_service.clients import add_client
from sandbox import state as sandbox_state
from sandbox.fhir import store
from sandbox.keys import public_jwks
from sandbox.seed.load import seed
from sandbox.seed.practice import pas_endpoint
from sandbox.tables import ClientRegistration, FhirResource, OAuthClient
from smart_app.backend import PAS_SCOPES
from smart_app.context import scopes as launch_scopes

SMART_CLIENT_ID = "painpa-smart"
CDS_CLIENT_ID = "painpa-cds"     # the CDS service's client id here: fhirAuthorization.subject


def ehr_iss(base_url: str) -> str:
    """The EHR's ``iss``: in its CDS Hooks JWTs, and the name painpa knows it by."""
    return f"{base_url}/ehr"


def painpa_app_scopes() -> str:
    """The scopes pre-authorized to painpa's app: what its launches request (v2 or v1, EHR or standalone)
    and what its PAS calls request."""
    asked = [launch_scopes(v, ehr_launch=ehr, practitioner=who) for v in ("v2", "v1") for ehr in (True, False)
             for who in (False, True)]      # practitioner: the coordinator queue's user-level sign-in
    return " ".join(dict.fromkeys(" ".join([*asked, PAS_SCOPES]).split()))


def upsert_client(db, client_id: str, *, grant_types: list[str] | None = None, **fields) -> None:
    """One of painpa's own clients (``painpa sandbox apps`` neither replaces nor removes these);
    without ``grant_types``, the authorization-code grant when it has redirect URIs."""
    if grant_types is None:
        grant_types = ["authorization_code", "refresh_token"] if fields.get("redirect_uris") else []
    with db.session() as s:
        row = s.get(OAuthClient, client_id)
        if row is None:
            row = OAuthClient(client_id=client_id)
            s.add(row)
        for name, value in fields.items():
            setattr(row, name, value)
        reg = s.get(ClientRegistration, client_id)
        if reg is None:
            reg = ClientRegistration(client_id=client_id, registered=datetime.now(UTC), client_metadata={})
            s.add(reg)
        reg.grant_types, reg.source = grant_types, "setup"


def ensure_ready(app: Flask) -> int:
    """Register clients; seed when the store is empty. Returns the number of patients seeded (0 if none)."""
    settings = state.of(app).settings
    db = state.of(app).db
    base = settings.base_url
    upsert_client(db, SMART_CLIENT_ID, name="painpa documentation app", auth_method="private_key_jwt",
                  redirect_uris=[f"{base}/smart/callback"], jwks_uri=f"{base}/.well-known/jwks.json", jwks=None,
                  launch_uri=f"{base}/smart/launch", scope=painpa_app_scopes(),
                  grant_types=["authorization_code", "refresh_token", "client_credentials"])
    upsert_client(db, CDS_CLIENT_ID, name="painpa CDS service", auth_method="private_key_jwt",
                  redirect_uris=[], jwks_uri=None, jwks=None, scope="", grant_types=[])
    # The EHR's FHIR base, and the payer's PAS base the app may call (the app reads it from the chart).
    add_client(db, iss=ehr_iss(base), jwks=public_jwks(sandbox_state.of(app).key),
               fhir_bases=[f"{base}/fhir", f"{base}/payer"], smart_client_id=SMART_CLIENT_ID, tenant="sandbox")
    with db.session() as s:
        store.put(s, pas_endpoint(base))
    with db.session() as s:
        count = s.scalar(select(func.count()).select_from(FhirResource).where(FhirResource.resource_type == "Patient"))
    return 0 if count else seed(app)
