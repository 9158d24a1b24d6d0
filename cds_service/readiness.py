"""One readiness assessment behind every surface (ARCHITECTURE.md: one truth for "is this order
ready", whichever door a person comes in by).

:func:`assess` gathers the patient's chart (prefetch first, then FHIR queries under one deadline,
:mod:`cds_service.fhir.gather`), evaluates the orders against the coverage policies
(:func:`cds_service.policy.engine.evaluate`), and adds what the same payer and plan recently denied
for the same service (CMS-0057-F specific reasons, :mod:`cds_service.denials`) to the fix of each
requirement not yet met. The :class:`Assessment` also says what a SMART link back to this question
carries (:meth:`Assessment.link_payload`).

The order hooks (:mod:`cds_service.hooks.orders`), the SMART worklist (:mod:`smart_app.worklist`),
and the chronic pain management hook and page (:mod:`cds_service.chronic_pain`) all call it; none of
them gathers or evaluates on its own, so a card and the worklist show the same requirements,
statuses and fix texts for the same chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from urllib3 import PoolManager

from cds_service.clients import ClientInfo
from cds_service.config import Settings
from cds_service.denials.evidence import DenialEvidence, apply_evidence
from cds_service.denials.feed import evidence_for
from cds_service.fhir.gather import gather
from cds_service.fhir.queries import QUERIES, Query
from cds_service.policy.engine import evaluate
from cds_service.policy.loader import PolicySet
from cds_service.policy.model import Determination
from cds_service.policy.record import PatientRecord, TenantDefaults
from cds_service.store.base import Database


@dataclass(frozen=True)
class ChartAccess:
    """How the chart is reached: the EHR's FHIR base with a bearer token (already checked against
    the caller's registered bases), what the caller prefetched, or both."""

    fhir_server: str | None = None
    access_token: str | None = field(default=None, repr=False)
    prefetch: Mapping[str, object] = field(default_factory=dict)
    # (client iss, tenant) turns on the short order-select → order-sign cache of FHIR answers. The
    # SMART app passes none: it re-reads the chart after each of its own writes.
    cache_scope: tuple[str | None, ...] | None = None

    @property
    def can_query(self) -> bool:
        return bool(self.fhir_server and self.access_token)


@dataclass(frozen=True)
class Question:
    """What is asked, and by whom: the patient, the orders to assess, and what a link back needs."""

    patient_id: str
    orders: tuple[dict, ...] = ()
    # Every order of the request, when more than those assessed (order-select assesses only its
    # selections): what they point to (locations, roles, coverage) is read in the same round.
    context_orders: tuple[dict, ...] | None = None
    user_id: str | None = None
    encounter_id: str | None = None
    hook_instance: str | None = None
    client: ClientInfo | None = None


@dataclass
class Assessment:
    question: Question
    fhir_server: str | None
    record: PatientRecord
    determinations: list[Determination]     # one per order of the question, in its order
    evidence: Mapping[str, DenialEvidence]  # the payer's recent denials, by order reference

    def link_payload(self, orders: Sequence[str] = (), *, requirement: str | None = None, **extra: object) -> dict:
        """What a SMART link back to this question stands for (stored behind an opaque handle by
        :func:`cds_service.applinks.issue`; never a token): the patient, the orders, where the
        question came from, and the requirement to open first."""
        q, client = self.question, self.question.client
        payload: dict = {
            "patient": q.patient_id, "orders": list(orders), "hookInstance": q.hook_instance,
            "fhirServer": self.fhir_server, "iss": client.iss if client else None,
            "tenant": client.tenant if client else None, "user": q.user_id,
        }
        if requirement is not None:
            payload["requirement"] = requirement
        payload.update(extra)
        return payload


def assess(question: Question, access: ChartAccess, *, settings: Settings, policies: PolicySet, today: date,
           db: Database | None = None, pool: PoolManager | None = None,
           queries: Sequence[Query] = QUERIES) -> Assessment:
    """The readiness of ``question.orders`` from the chart as ``access`` reaches it, on ``today``.
    ``db`` None (offline): no denial history. ``queries``: what to read (a surface with a narrower
    question, chronic pain management, reads less)."""
    client = question.client
    record = gather(
        patient_id=question.patient_id,
        settings=settings,
        fhir_server=access.fhir_server if access.can_query else None,
        access_token=access.access_token,
        prefetch=access.prefetch,
        context={"userId": question.user_id, "encounterId": question.encounter_id},
        orders=question.orders if question.context_orders is None else question.context_orders,
        defaults=client.defaults if client else TenantDefaults(),
        pool=pool,
        cache_scope=access.cache_scope,
        queries=queries,
        db=db,
    )
    for order in question.orders:   # the orders are part of the chart the forms and the packet read
        record.add(order)
    determinations = evaluate(list(question.orders), record, policies, today) if question.orders else []
    evidence = evidence_for(db, determinations, record)
    return Assessment(question=question, fhir_server=access.fhir_server, record=record,
                      determinations=apply_evidence(determinations, evidence), evidence=evidence)
