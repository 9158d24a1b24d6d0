"""The chart screen fires ``patient-view`` at painpa (CDS Hooks 2.0 §"Calling a CDS Service";
hook library patient-view 1.0) like an EHR opening a chart, over HTTP with the sandbox's JWT and a
short-lived fhirAuthorization, and shows the answer (the chronic pain management card: the
G3002/G3003 month). SMART links on those cards launch through the order screen's own launch
endpoint (``/ehr/api/launch``).
"""

from __future__ import annotations

import uuid

from cds_service import state
from sandbox import state as sandbox_state
from sandbox.cdsclient import CdsError
from sandbox.ehr import cards as card_view
from sandbox.ehr import hookreq, workflow
from sandbox.roster import SANDBOX_USER
from sandbox.tokens import revoke


def fire(pid: str) -> dict:
    """``{"hookInstance", "cards"}``, or ``{"error"}`` when painpa could not be reached: a chart
    never fails to open because a CDS service did."""
    db = state.current().db
    base = state.current().settings.base_url
    cds = sandbox_state.current().cds
    try:
        service = cds.service_for("patient-view")
    except CdsError as exc:
        return {"error": str(exc), "cards": []}
    auth = hookreq.fhir_authorization(db, pid, SANDBOX_USER)
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": f"{base}/fhir",
            "fhirAuthorization": auth, "context": {"userId": SANDBOX_USER, "patientId": pid}}
    try:
        answer = cds.call(service["id"], body)
    except CdsError as exc:
        return {"error": str(exc), "cards": []}
    finally:
        revoke(db, auth["access_token"])
    cards = card_view.prepare(answer.get("cards") or [])
    # Kept like an order hook's answer so that /ehr/api/launch finds the card's SMART link.
    workflow.remember(body["hookInstance"], service["id"], cards)
    return {"hookInstance": body["hookInstance"], "cards": cards}
