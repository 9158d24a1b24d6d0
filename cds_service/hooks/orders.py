"""The order services: order-select and order-sign (hook library 1.0; CRD 2.0.1/2.2 hooks.md;
standards.md §2.2).

One path for both hooks: the readiness assessment of the orders in scope (order-select: only the
``selections``), rendered as cards and coverage-information: a systemAction per order, whether
painpa has rules for it or not (those get the answered version's "no determination"). order-select
is a secondary hook, so the renderer never puts doc-needed clinical/admin on it; cards and topics
are in the answered CRD version's terms (:mod:`cds_service.render.versions`).
"""

from __future__ import annotations

from cds_service.hooks.links import smart_link
from cds_service.hooks.request import PrefetchIncomplete
from cds_service.hooks.service import HookCall, HookResult, ServiceDef, configuration
from cds_service.policy.model import Determination, RequirementResult
from cds_service.readiness import Assessment, ChartAccess
from cds_service.render import SmartLink, render_response
from cds_service.render.versions import conform_cards


def smart_links(call: HookCall, assessment: Assessment) -> SmartLink:
    """``smart_link(det, requirement)`` for the renderer: a link into the SMART app, to the
    requirement's fix when there is one, else to the order's worklist. The renderer words the
    label for its card (render/cards.py)."""

    def link(det: Determination, requirement: RequirementResult | None = None) -> dict | None:
        if call.db is None:  # offline evaluation: nothing to launch into
            return None
        payload = assessment.link_payload([det.order_ref], requirement=requirement.id if requirement else None)
        return smart_link(call.db, call.settings.base_url, payload, "Open painpa worklist")

    return link


def require_chart(call: HookCall, access: ChartAccess, assessment: Assessment) -> None:
    """CDS Hooks 2.0 §Prefetch: a 2.0.1 call that cannot reach the FHIR server and whose prefetch
    lacks the patient or the coverage is refused (412); CRD 2.2 found-32 forbids that answer."""
    if (not access.can_query and call.request.crd_version == "2.0.1"
            and {"Patient", "Coverage"} & assessment.record.incomplete):
        raise PrefetchIncomplete("Prefetch lacks patient or coverage and no fhirAuthorization was given to query them",
                                 "prefetch")


def run(call: HookCall) -> HookResult:
    req = call.request
    access = call.chart_access()
    assessment = call.assess(call.question(req.selected_orders), access)
    require_chart(call, access, assessment)
    return respond(call, assessment, list(assessment.question.orders))


def respond(call: HookCall, assessment: Assessment, orders: list[dict]) -> HookResult:
    """The CDS Hooks response to ``assessment``, in the answered CRD version; ``orders`` are the
    resources its coverage-information updates carry, paired one to one with the determinations."""
    req = call.request
    response = render_response(assessment.determinations, orders, hook=req.hook, crd_version=req.crd_version,
                               config=configuration(req.configuration), today=call.today,
                               smart_link=smart_links(call, assessment))
    return HookResult(response=conform_cards(response, req.crd_version), determinations=assessment.determinations,
                      record=assessment.record)


SERVICES: tuple[ServiceDef, ...] = (
    ServiceDef(
        id="painpa-order-select",
        hook="order-select",
        title="painpa: prior-authorization readiness (order select)",
        description="When an epidural steroid injection, spinal cord or peripheral nerve stimulator, or "
                    "vertebral augmentation order is selected, says whether it needs prior authorization "
                    "and what documentation is still missing.",
        handler=run,
    ),
    ServiceDef(
        id="painpa-order-sign",
        hook="order-sign",
        title="painpa: prior-authorization readiness (order sign)",
        description="Adds Da Vinci CRD coverage information to interventional pain orders being signed and "
                    "names each unmet coverage requirement with a link to fix it.",
        handler=run,
    ),
)
