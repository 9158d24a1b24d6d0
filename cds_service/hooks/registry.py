"""The CDS services painpa offers, declared once (CDS Hooks 2.0 §Discovery; CRD 2.0.1 deviations
"configuration-options"; CRD 2.2 dev-1/2 "davinci-crd.version"; standards.md §2.10.1).

Discovery is built from :data:`SERVICES`; a new hook is one more :class:`ServiceDef` entry with its
handler. Prefetch templates come from :mod:`cds_service.fhir.queries` so that discovery and the
queries issued for missing prefetch never drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cds_service.fhir.queries import prefetch_templates
from cds_service.render import CARD_TOPICS as RENDER_TOPICS
from cds_service.render import DEFAULT_MAX_CARDS

# Card topics (CRD card-type codes) come from the renderer, the one place that emits them; each gets
# a boolean configuration option (CRD 2.0.1 deviations: "SHALL, at minimum, offer a boolean option
# for each card type").
CARD_TOPICS: dict[str, tuple[str, str]] = {code: (name, desc) for code, name, desc in RENDER_TOPICS}
CRD_VERSIONS = ("2.1", "2.2")


@dataclass(frozen=True)
class ServiceDef:
    id: str
    hook: str
    title: str
    description: str
    handler: str  # "module:function", imported on first call
    prefetch: dict[str, str] = field(default_factory=prefetch_templates)
    usage_requirements: str | None = None
    topics: tuple[str, ...] = tuple(CARD_TOPICS)

    def resolve_handler(self) -> Callable:
        import importlib

        module, func = self.handler.split(":")
        return getattr(importlib.import_module(module), func)

    def configuration_options(self) -> list[dict]:
        options = [
            {"code": code, "type": "boolean", "name": CARD_TOPICS[code][0], "description": CARD_TOPICS[code][1],
             "default": True}
            for code in self.topics
        ]
        options.append({"code": "max-cards", "type": "integer", "name": "Maximum cards",
                        "description": "Maximum number of cards returned per invocation.",
                        "default": DEFAULT_MAX_CARDS})
        return options

    def discovery(self) -> dict:
        entry: dict = {"hook": self.hook, "title": self.title, "description": self.description, "id": self.id}
        if self.prefetch:
            entry["prefetch"] = dict(self.prefetch)
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        entry["extension"] = {
            "davinci-crd.version": list(CRD_VERSIONS),
            "davinci-crd.configuration-options": self.configuration_options(),
        }
        return entry


_USAGE = ("Requires a JWT from a registered client; fhirServer must be a FHIR base registered for that "
          "client. Grant read access to the prefetch resource types or send them as prefetch.")

SERVICES: tuple[ServiceDef, ...] = (
    ServiceDef(
        id="painpa-order-select",
        hook="order-select",
        title="painpa: prior-authorization readiness (order select)",
        description="When an epidural steroid injection, spinal cord or peripheral nerve stimulator, or "
                    "vertebral augmentation order is selected, says whether it needs prior authorization "
                    "and what documentation is still missing.",
        handler="cds_service.hooks.handlers:run",
        usage_requirements=_USAGE,
    ),
    ServiceDef(
        id="painpa-order-sign",
        hook="order-sign",
        title="painpa: prior-authorization readiness (order sign)",
        description="Adds Da Vinci CRD coverage information to interventional pain orders being signed and "
                    "names each unmet coverage requirement with a link to fix it.",
        handler="cds_service.hooks.handlers:run",
        usage_requirements=_USAGE,
    ),
)

# Issue 8: chronic pain management (G3002/G3003) month status, outside the order flow.
from cds_service.insights.cpm_queries import prefetch_templates as _cpm_prefetch  # noqa: E402

SERVICES += tuple(
    ServiceDef(id=sid, hook=hook, title="painpa: chronic pain management (G3002/G3003) this month",
               description="For a patient with chronic pain (> 3 months), shows this calendar month's G3002/G3003 "
                           "status — initial visit, pain scale, care plan, minutes — and what is missing.",
               handler="cds_service.insights.cpm_service:respond", prefetch=_cpm_prefetch(), topics=(),
               usage_requirements=_USAGE)
    for sid, hook in (("painpa-cpm", "patient-view"), ("painpa-cpm-encounter", "encounter-start"))
)


def by_id(service_id: str) -> ServiceDef | None:
    return next((s for s in SERVICES if s.id == service_id), None)


def discovery_document() -> dict:
    return {"services": [s.discovery() for s in SERVICES]}
