"""The CDS layer's one call into the denial loop: load the plan's recent decisions for each order and
add them to the determinations before rendering (CMS-0057-F specific denial reasons, domain.md §3,
fed back into the CRD cards, standards.md §2.4). The policy engine stays pure; a store failure
never fails a hook call (the cards are simply rendered without the history)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from cds_service.insights.evidence import apply_evidence
from cds_service.insights.rules import default_data
from cds_service.insights.stats import load_evidence

log = logging.getLogger(__name__)


def add_denial_evidence(db, determinations: list, record) -> list:
    if db is None or not determinations:
        return determinations
    try:
        evidence = load_evidence(db, determinations, record, default_data())
    except SQLAlchemyError as exc:  # the store is down or locked; malformed FHIR is handled where it is read
        log.warning("denial evidence unavailable: %s", type(exc).__name__)
        return determinations
    return apply_evidence(determinations, evidence)
