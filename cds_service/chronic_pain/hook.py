"""The chronic pain management CDS service on ``patient-view`` and ``encounter-start`` (CDS Hooks
2.0; hook library patient-view 1.0, CRD encounter-start; G3002/G3003, domain.md §4): one card with
this calendar month's status for a patient with chronic pain, no card for anyone else.

It reads its own short query list (:mod:`cds_service.chronic_pain.queries`: conditions,
encounters, scales and CPM time, care plans and goals), prefetch first, through the same readiness
assessment as the order services.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from cds_service.chronic_pain.card import FORMS, card
from cds_service.chronic_pain.queries import QUERIES, prefetch_templates
from cds_service.hooks.links import smart_link
from cds_service.hooks.request import PrefetchIncomplete
from cds_service.hooks.service import HookCall, HookResult, ServiceDef, configuration
from cds_service.policy.cpm import month_status
from cds_service.readiness import Assessment
from cds_service.render import topic_system

REQUIREMENTS_LINK = {
    "label": "G3002/G3003 requirements (CY2023 PFS)", "type": "absolute",
    "url": "https://www.nixonlawgroup.com/nlg-blog/2022/11/17/reimbursement-for-chronic-pain-management-in-"
           "the-2023-medicare-physician-fee-schedule-new-opportunities-for-patients-and-providers",
}


def _links(call: HookCall, assessment: Assessment) -> list[dict]:
    if call.db is None:  # offline evaluation: nothing to launch into
        return [REQUIREMENTS_LINK]
    # CDS Hooks §Link: a card carries either smart or absolute links; the smart one when there is one.
    payload = assessment.link_payload(forms=list(FORMS), program="cpm")
    return [smart_link(call.db, call.settings.base_url, payload, "Record time or care plan in painpa")]


def respond(call: HookCall) -> HookResult:
    req = call.request
    # The warm cache holds the order services' answers for their next hook; this service reads its own list.
    access = replace(call.chart_access(), cache_scope=None)
    assessment = call.assess(call.question(), access, QUERIES)
    if "Condition" in assessment.record.incomplete and not access.can_query:
        # CDS Hooks 2.0 §Prefetch: no FHIR access and the prefetch lacks the data the card needs.
        raise PrefetchIncomplete("Prefetch lacks the patient's conditions and no fhirAuthorization was given",
                                 "prefetch")
    status = month_status(assessment.record, call.policies, call.today)
    cards = []
    if status is not None and configuration(req.configuration).get("max-cards", 1) > 0:
        cards.append(card(status, uuid=str(uuid.uuid4()), topic_system=topic_system(req.crd_version),
                          links=_links(call, assessment)))
    return HookResult(response={"cards": cards}, determinations=[], record=assessment.record)


SERVICES: tuple[ServiceDef, ...] = tuple(
    ServiceDef(id=sid, hook=hook, title="painpa: chronic pain management (G3002/G3003) this month",
               description="For a patient with chronic pain (> 3 months), shows this calendar month's G3002/G3003 "
                           "status — initial visit, pain scale, care plan, minutes — and what is missing.",
               handler=respond, prefetch=prefetch_templates(), topics=())
    for sid, hook in (("painpa-cpm", "patient-view"), ("painpa-cpm-encounter", "encounter-start"))
)
