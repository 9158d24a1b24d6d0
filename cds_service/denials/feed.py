"""The one way into the denial history from an order's assessment: the plan's recent decisions for
each order (CMS-0057-F specific denial reasons, domain.md §3, fed back into the CRD cards and the
worklist, standards.md §2.4). The policy engine stays pure; a store failure never fails the
assessment (it is then made without the history)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from cds_service.denials.evidence import DenialEvidence
from cds_service.denials.rules import default_data
from cds_service.denials.stats import load_evidence
from cds_service.policy.record import PatientRecord
from cds_service.store.base import Database

log = logging.getLogger(__name__)


def evidence_for(db: Database | None, determinations: list, record: PatientRecord) -> dict[str, DenialEvidence]:
    """The denial evidence per order (keyed by ``order_ref``); empty offline or when the store fails."""
    if db is None or not determinations:
        return {}
    try:
        return load_evidence(db, determinations, record, default_data())
    except SQLAlchemyError as exc:  # the store is down or locked; malformed FHIR is handled where it is read
        log.warning("denial evidence unavailable: %s", type(exc).__name__)
        return {}
