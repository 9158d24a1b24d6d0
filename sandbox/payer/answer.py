"""The PAS response Bundle (Da Vinci PAS 2.2.1 ``PASResponseBundle``, ``Bundle.fsh``): a
``collection`` whose ``identifier`` echoes the request Bundle's (the submitter's transaction
identifier, as in ReferralAuthorizationResponseBundleExample), a ``timestamp``, the ClaimResponse
first (invariant ClaimResponseFirst) and then the resources it references (patient, insurer,
requestor, and what a requesting PractitionerRole points to). References in the ClaimResponse are
the submitter's own ``fullUrl``s, so they resolve inside the response and in the submitter's system.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sandbox.payer import decision as pas
from sandbox.payer.facts import modified_items
from sandbox.payer.request import PasRequest
from sandbox.payer.rules import Decision

RESPONSE_BUNDLE = f"{pas.PAS}/profile-pas-response-bundle"
CLAIM_RESPONSE = f"{pas.PAS}/profile-claimresponse"


def _ref(req: PasRequest, ref: dict | None) -> dict:
    res = req.resolve(ref)
    url = req.full_url(res) if res else None
    return {"reference": url} if url else dict(ref or {})


def claim_response(req: PasRequest, ruling: Decision, *, response_id: str, decided: date,
                   utn: str | None) -> dict:
    claim = req.claim
    shaped = {"id": response_id, "type": claim["type"], "item": claim.get("item") or [],
              "patient": _ref(req, claim.get("patient")), "insurer": _ref(req, claim.get("insurer")),
              "provider": _ref(req, claim.get("provider"))}
    pend = f"PEND{response_id.replace('-', '')[:10].upper()}" if ruling.action == "A4" else None
    action, item_actions = ruling.action, None
    if ruling.modify:   # only the items over the limit are modified; the others are certified as asked
        modified = modified_items(shaped["item"], set(ruling.modify["codes"]), ruling.modify["max"])
        action, item_actions = "A1", dict.fromkeys(modified, "A6")
    body = pas.response(shaped, response_id=response_id, action=action, decided=decided, utn=utn,
                        reason=ruling.reason, reason_code=ruling.reason_code, valid_days=ruling.validity_days,
                        item_actions=item_actions, request_ref=req.full_url(claim),
                        identifiers=claim.get("identifier"), pend_number=pend)
    for item in body["item"]:
        if (item_actions or {}).get(item["itemSequence"]) == "A6":
            item.setdefault("extension", []).append({"url": f"{pas.PAS}/extension-itemAuthorizedDetail", "extension": [
                {"url": "quantity", "valueQuantity": {"value": ruling.modify["max"]}}]})
    body["meta"] = {"profile": [CLAIM_RESPONSE]}
    return body


def bundle(req: PasRequest, response: dict) -> dict:
    entries = [{"fullUrl": f"urn:uuid:{response['id']}", "resource": response}]
    seen: set[str] = set()

    def add(ref: dict | None, depth: int = 0) -> None:
        res = req.resolve(ref)
        url = req.full_url(res) if res else None
        if not res or not url or url in seen:
            return
        seen.add(url)
        entries.append({"fullUrl": url, "resource": res})
        if depth == 0 and res.get("resourceType") == "PractitionerRole":
            add(res.get("practitioner"), 1)
            add(res.get("organization"), 1)
            for loc in res.get("location") or []:
                add(loc, 1)

    for key in ("patient", "insurer", "requestor"):
        add(response.get(key))
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "meta": {"profile": [RESPONSE_BUNDLE]},
            "identifier": req.bundle.get("identifier"), "type": "collection",
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "entry": entries}


def final_decision(follow_up: dict) -> Decision:
    """A pended rule's stored follow-up as a decision of its own (same shape as a rule's)."""
    return Decision("follow-up", follow_up["action"], follow_up.get("reason"), follow_up.get("reason_code"),
                    int(follow_up.get("validity_days", 120)))
