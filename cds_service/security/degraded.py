"""Honest answers when the EHR's data did not arrive (CRD foundation "Performance": answer in time
with what is known; standards.md §10 CC-56; issue 6 fault injection).

When the Coverage query failed (timeout, 5xx, 429, malformed or wrong-typed answer, reset) the
policy cannot tell which plan's rules apply and routes the order as an unknown plan. The renderer's
card for that case says no rules are configured for the plan, which is true only when the plan was
read. This pass rewrites those cards to say what happened: painpa could not verify coverage, and
every requirement is unknown (never "unmet"). It only touches cards associated with such orders.
"""

from __future__ import annotations

from collections.abc import Sequence

from cds_service.policy.model import ProgramKind
from cds_service.policy.record import PatientRecord

SUMMARY = "Could not verify coverage: the EHR did not return the patient's coverage in time"


def honest(response: dict, determinations: Sequence, record: PatientRecord) -> dict:
    """``response`` with unknown-plan cards rewritten when the plan is unknown because Coverage
    could not be read."""
    if "Coverage" not in record.incomplete or record.coverages:
        return response
    unread = {d.order_ref for d in determinations if d.program.kind is ProgramKind.UNKNOWN_PLAN}
    missing = ", ".join(sorted(record.incomplete))
    for card in response.get("cards") or ():
        assoc = set((card.get("extension") or {}).get("davinci-crd.associated-resource") or ())
        if card.get("source", {}).get("topic", {}).get("code") == "coverage-info" and assoc & unread:
            card["summary"] = SUMMARY
            card["indicator"] = "warning"
            card["detail"] = (
                f"painpa asked the EHR's FHIR server for this patient's {missing} and did not get a usable "
                "answer before its deadline (the server was slow, failed, or sent data painpa could not read). "
                "Whether this order needs prior authorization, and which documentation the plan requires, is "
                "**unknown**: nothing was found unmet. Sign again in a moment, or check the plan's rules directly."
            )
    return response
