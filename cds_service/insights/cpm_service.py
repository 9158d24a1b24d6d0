"""The chronic pain management CDS service on ``patient-view`` and ``encounter-start`` (CDS Hooks
2.0; hook library patient-view 1.0, CRD encounter-start; G3002/G3003, domain.md §4): one card with
this calendar month's status for a patient with chronic pain, no card for anyone else.

It reads its own short query list (conditions, encounters, scales and CPM time, care plans and
goals), prefetch first, through the same ``gather`` as the order services.
"""

from __future__ import annotations

import json
import uuid

from cds_service import applinks
from cds_service.fhir.gather import gather
from cds_service.hooks.handlers import HookCall, HookResult, configuration
from cds_service.insights.cpm_card import card
from cds_service.insights.cpm_queries import QUERIES
from cds_service.policy.cpm import month_status
from cds_service.policy.record import TenantDefaults

LINK_TTL_S = 3600


def _links(call: HookCall) -> list[dict]:
    links = [{"label": "G3002/G3003 requirements (CY2023 PFS)", "type": "absolute",
              "url": "https://www.nixonlawgroup.com/nlg-blog/2022/11/17/reimbursement-for-chronic-pain-management-in-"
                     "the-2023-medicare-physician-fee-schedule-new-opportunities-for-patients-and-providers"}]
    if call.db is None:
        return links
    req = call.request
    handle = applinks.issue(call.db, {
        "patient": req.patient_id, "orders": [], "forms": ["cpm-time", "cpm-careplan"], "program": "cpm",
        "hookInstance": req.hook_instance, "fhirServer": req.fhir_server, "user": req.user_id,
        "iss": call.client.iss if call.client else None, "tenant": call.client.tenant if call.client else None,
    }, LINK_TTL_S)
    # CDS Hooks §Link: a card carries either smart or absolute links; the smart one comes first.
    return [{"label": "Record time or care plan in painpa", "url": f"{call.settings.base_url}/smart/launch",
             "type": "smart", "appContext": json.dumps({"ctx": handle}, separators=(",", ":"))}]


def respond(call: HookCall) -> HookResult:
    from cds_service.hooks.errors import HookError
    from cds_service.render import topic_system

    if call.policies is None:
        raise HookError(503, "Coverage policy data is not loaded; see /readyz")
    req = call.request
    record = gather(
        patient_id=req.patient_id, settings=call.settings, fhir_server=req.fhir_server if req.access_token else None,
        access_token=req.access_token, prefetch=req.prefetch,
        context={"userId": req.user_id, "encounterId": req.encounter_id},
        defaults=call.client.defaults if call.client else TenantDefaults(), pool=call.pool, queries=QUERIES,
    )
    if "Condition" in record.incomplete and not (req.fhir_server and req.access_token):
        # CDS Hooks 2.0 §Prefetch: no FHIR access and the prefetch lacks the data the card needs.
        raise HookError(412, "Prefetch lacks the patient's conditions and no fhirAuthorization was given",
                        "prefetch")
    status = month_status(record, call.policies, call.today)
    config = configuration(req.configuration)
    cards = []
    if status is not None and config.get("max-cards", 1) > 0:
        cards.append(card(status, uuid=str(uuid.uuid4()), topic_system=topic_system(req.crd_version),
                          links=_links(call)))
    return HookResult(response={"cards": cards}, determinations=[], record=record)
