"""What a CDS service of painpa is (CDS Hooks 2.0 §Discovery; CRD 2.0.1 deviations
"configuration-options"; CRD 2.2 dev-1/2 "davinci-crd.version"; standards.md §2.10.1): its discovery
entry (:class:`ServiceDef`), what its handler is given for one call (:class:`HookCall`) and what it
returns (:class:`HookResult`).

A feature declares its services as ``ServiceDef`` values with their handler functions (the order
hooks in :mod:`cds_service.hooks.orders`, chronic pain management in
:mod:`cds_service.chronic_pain.hook`); the app factory hands the list to
:func:`cds_service.hooks.registry.install`. Prefetch templates come from the same query list the
gathering uses (:mod:`cds_service.fhir.queries`), so that discovery and the queries issued for
missing prefetch never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from urllib3 import PoolManager

from cds_service import readiness
from cds_service.clients import ClientInfo
from cds_service.config import Settings
from cds_service.fhir.queries import QUERIES, Query, prefetch_templates
from cds_service.hooks.request import HookRequest
from cds_service.policy.loader import PolicySet
from cds_service.policy.record import PatientRecord
from cds_service.readiness import Assessment, ChartAccess, Question
from cds_service.render import CARD_TOPICS as RENDER_TOPICS
from cds_service.render import DEFAULT_MAX_CARDS
from cds_service.render.versions import requestable
from cds_service.store.base import Database

# Card topics (CRD card-type codes) come from the renderer, the one place that emits them; each gets
# a boolean configuration option (CRD 2.0.1 deviations: "SHALL, at minimum, offer a boolean option
# for each card type").
CARD_TOPICS: dict[str, tuple[str, str]] = {code: (name, desc) for code, name, desc in RENDER_TOPICS}
# davinci-crd.version (CRD 2.2 dev-1/2): every requestable version its StructureDefinition's
# ``^[1-9]\d*\.[1-9]\d*$`` admits ("2.0" does not: 2.0.1 clients send no version and get 2.0.1).
CRD_VERSIONS = tuple(v for v in requestable() if re.fullmatch(r"[1-9]\d*\.[1-9]\d*", v))
USAGE = ("Requires a JWT from a registered client; fhirServer must be a FHIR base registered for that "
         "client. Grant read access to the prefetch resource types or send them as prefetch.")


@dataclass
class HookCall:
    """Everything one invocation needs; built by the view after authentication and validation
    (``painpa evaluate`` builds one offline: no database, no client, no FHIR pools)."""

    service: ServiceDef
    request: HookRequest
    settings: Settings
    db: Database | None
    policies: PolicySet
    today: date
    client: ClientInfo | None = None
    pool: PoolManager | None = None     # the app's FHIR connection pools (fhir.client.new_pool)

    def chart_access(self) -> ChartAccess:
        """The chart as this call reaches it: its prefetch and, with a token, its ``fhirServer``;
        FHIR answers are cached for this client's next hook on the same patient and token."""
        req, client = self.request, self.client
        return ChartAccess(req.fhir_server, req.access_token, req.prefetch,
                           cache_scope=(client.iss, client.tenant) if client else None)

    def question(self, orders: Sequence[dict] = ()) -> Question:
        """The readiness question of this call, about ``orders`` (every draft order's references are
        read; without draft orders, as on appointment-book, those of ``orders``)."""
        req = self.request
        return Question(req.patient_id, tuple(orders), context_orders=req.draft_orders or None, user_id=req.user_id,
                        encounter_id=req.encounter_id, hook_instance=req.hook_instance, client=self.client)

    def assess(self, question: Question, access: ChartAccess, queries: Sequence[Query] = QUERIES) -> Assessment:
        """The readiness assessment (cds_service/readiness.py) with this call's policies, date,
        database and pools."""
        return readiness.assess(question, access, settings=self.settings, policies=self.policies,
                                today=self.today, db=self.db, pool=self.pool, queries=queries)


@dataclass
class HookResult:
    response: dict
    determinations: list
    record: PatientRecord


@dataclass(frozen=True)
class ServiceDef:
    id: str
    hook: str
    title: str
    description: str
    handler: Callable[[HookCall], HookResult]
    prefetch: dict[str, str] = field(default_factory=prefetch_templates)
    usage_requirements: str | None = USAGE
    topics: tuple[str, ...] = tuple(CARD_TOPICS)

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
