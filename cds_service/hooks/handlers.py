"""order-select and order-sign (hook library 1.0; CRD 2.0.1/2.2 hooks.md; standards.md §2.2).

One path for both hooks: gather the record, evaluate the orders in scope (order-select: only the
``selections``), render cards and coverage-information. order-select is a secondary hook, so the
renderer never puts doc-needed clinical/admin on it; order-sign is primary and gets a
coverage-information systemAction per in-scope order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from urllib3 import PoolManager

from cds_service import applinks
from cds_service.clients import ClientInfo
from cds_service.config import Settings
from cds_service.fhir.gather import gather
from cds_service.hooks.errors import HookError
from cds_service.hooks.registry import CARD_TOPICS, ServiceDef
from cds_service.hooks.request import HookRequest
from cds_service.policy.record import PatientRecord, TenantDefaults
from cds_service.store.base import Database

APP_LINK_TTL_S = 3600


@dataclass
class HookCall:
    """Everything one invocation needs; built by the view after authentication and validation."""

    service: ServiceDef
    request: HookRequest
    settings: Settings
    db: Database | None
    policies: object
    today: date
    client: ClientInfo | None = None
    pool: PoolManager | None = None     # the app's FHIR connection pools (fhir.client.new_pool)


@dataclass
class HookResult:
    response: dict
    determinations: list
    record: PatientRecord


def configuration(raw: dict) -> dict:
    """Honour the known ``davinci-crd.configuration`` keys; ignore unknown or nonsensical ones."""
    config: dict = {}
    for code in CARD_TOPICS:
        if isinstance(raw.get(code), bool):
            config[code] = raw[code]
    max_cards = raw.get("max-cards")
    if isinstance(max_cards, int) and not isinstance(max_cards, bool) and max_cards >= 0:
        config["max-cards"] = max_cards
    return config


def smart_link_factory(call: HookCall):
    """``smart_link(det, requirement)`` for the renderer: a link to the SMART app whose appContext
    is an opaque handle (no PHI, no token)."""
    req = call.request

    def smart_link(det, requirement=None) -> dict | None:
        if call.db is None:  # offline evaluation: nothing to launch into
            return None
        payload = {
            "patient": req.patient_id,
            "orders": [det.order_ref],
            "hookInstance": req.hook_instance,
            "fhirServer": req.fhir_server,
            "iss": call.client.iss if call.client else None,
            "tenant": call.client.tenant if call.client else None,
            "user": req.user_id,
            "requirement": getattr(requirement, "id", None),
        }
        handle = applinks.issue(call.db, payload, APP_LINK_TTL_S)
        label = f"Fix in painpa: {requirement.title}" if requirement is not None else "Open painpa worklist"
        return {
            "label": label[:80],
            "url": f"{call.settings.base_url}/smart/launch",
            "type": "smart",
            "appContext": json.dumps({"ctx": handle}, separators=(",", ":")),
        }

    return smart_link


def _record(call: HookCall) -> PatientRecord:
    req = call.request
    defaults = call.client.defaults if call.client else TenantDefaults()
    scope = (call.client.iss, call.client.tenant) if call.client else None
    record = gather(
        patient_id=req.patient_id,
        settings=call.settings,
        fhir_server=req.fhir_server if req.access_token else None,
        access_token=req.access_token,
        prefetch=req.prefetch,
        context={"userId": req.user_id, "encounterId": req.encounter_id},
        orders=req.draft_orders,
        defaults=defaults,
        pool=call.pool,
        cache_scope=scope,
    )
    no_access = not (req.fhir_server and req.access_token)
    if no_access and req.crd_version == "2.0.1" and {"Patient", "Coverage"} & record.incomplete:
        # CDS Hooks 2.0 §Prefetch: cannot reach the FHIR server and the prefetch lacks required data.
        raise HookError(412, "Prefetch lacks patient or coverage and no fhirAuthorization was given to query them",
                        "prefetch")
    return record


def run(call: HookCall) -> HookResult:
    from cds_service.insights.feed import add_denial_evidence
    from cds_service.policy.engine import evaluate
    from cds_service.render import render_response

    if call.policies is None:
        raise HookError(503, "Coverage policy data is not loaded; see /readyz")
    record = _record(call)
    orders = call.request.selected_orders
    determinations = evaluate(orders, record, call.policies, call.today) if orders else []
    determinations = add_denial_evidence(call.db, determinations, record)  # issue 8: the plan's recent denials
    response = render_response(
        determinations,
        orders,  # paired with the determinations, one to one
        hook=call.request.hook,
        crd_version=call.request.crd_version,
        config=configuration(call.request.configuration),
        today=call.today,
        smart_link=smart_link_factory(call),
    )
    return HookResult(response=response, determinations=determinations, record=record)
