"""First-start setup of the sandbox (idempotent, run on every start): the SMART clients of the
sandbox authorization server, the sandbox EHR's registration as a CDS client of painpa, and the
synthetic patients when the FHIR store is empty.

The EHR is registered through ``cds_service.clients.add_client``, the code behind
``painpa clients add`` (CDS Hooks 2.0 §"Trusting CDS Clients"): its own ES384 public key, and its
FHIR base registered explicitly as the only ``fhirServer`` it may name.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from cds_service import state
from cds_service.clients import add_client
from sandbox import state as sandbox_state
from sandbox.fhir import store
from sandbox.keys import public_jwks
from sandbox.seed.load import seed
from sandbox.seed.practice import pas_endpoint
from sandbox.tables import FhirResource, OAuthClient

SMART_CLIENT_ID = "painpa-smart"
CDS_CLIENT_ID = "painpa-cds"     # the CDS service's client id here: fhirAuthorization.subject


def ehr_iss(base_url: str) -> str:
    """The EHR's ``iss``: in its CDS Hooks JWTs, and the name painpa knows it by."""
    return f"{base_url}/ehr"


def upsert_client(db, client_id: str, **fields) -> None:
    with db.session() as s:
        row = s.get(OAuthClient, client_id)
        if row is None:
            row = OAuthClient(client_id=client_id)
            s.add(row)
        for name, value in fields.items():
            setattr(row, name, value)


def ensure_ready(app: Flask) -> int:
    """Register clients; seed when the store is empty. Returns the number of patients seeded (0 if none)."""
    settings = state.of(app).settings
    db = state.of(app).db
    base = settings.base_url
    upsert_client(db, SMART_CLIENT_ID, name="painpa documentation app", auth_method="private_key_jwt",
                  redirect_uris=[f"{base}/smart/callback"], jwks_uri=f"{base}/.well-known/jwks.json", jwks=None,
                  launch_uri=f"{base}/smart/launch", scope="")
    upsert_client(db, CDS_CLIENT_ID, name="painpa CDS service", auth_method="private_key_jwt",
                  redirect_uris=[], jwks_uri=None, jwks=None, scope="")
    # The EHR's FHIR base, and the payer's PAS base the app may call (the app reads it from the chart).
    add_client(db, iss=ehr_iss(base), jwks=public_jwks(sandbox_state.of(app).key),
               fhir_bases=[f"{base}/fhir", f"{base}/payer"], smart_client_id=SMART_CLIENT_ID, tenant="sandbox")
    with db.session() as s:
        store.put(s, pas_endpoint(base))
    with db.session() as s:
        count = s.scalar(select(func.count()).select_from(FhirResource).where(FhirResource.resource_type == "Patient"))
    return 0 if count else seed(app)
