"""Pure rendering of determinations into a CDS Hooks response: cards plus CRD coverage-information
systemActions (order-sign, appointment-book; order-select for its selections; CDS Hooks 2.0 §CDS
Service Response; Da Vinci CRD 2.0.1 / 2.2 cards.md and coverage-information; standards.md §2.3-§2.6; CC-31,
CC-33..CC-49).

``render_response(determinations, draft_orders, *, hook, crd_version, config, today, smart_link)``:
- one card per in-scope order (render/cards.py), its lines each under a CRD topic;
- ``config`` is the parsed ``davinci-crd.configuration``: a topic code set to ``false`` removes
  the lines of that topic, and a card left with none (``coverage-info: false`` also suppresses the
  coverage-information systemActions); ``max-cards`` caps the cards after sorting worst first;
  unknown keys are ignored (CC-31).
- card ``source.topic.system`` follows CC-41, from the answered version's data
  (:mod:`cds_service.render.versions`): CRD 2.0.1/2.1 ``.../CodeSystem/temp``; 2.2
  ``http://terminology.hl7.org/CodeSystem/cdshooks-card-type``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from cds_service.policy.model import Determination
from cds_service.render.cards import CARD_TOPICS, DEFAULT_MAX_CARDS, SmartLink, drafts
from cds_service.render.coverage import COVERAGE_HOOKS, COVERAGE_INFO_URL, coverage_extension, system_action
from cds_service.render.versions import vocabulary

__all__ = ["CARD_TOPICS", "COVERAGE_INFO_URL", "DEFAULT_MAX_CARDS", "TOPIC_CODES", "coverage_extension",
           "render_response", "topic_system"]

TOPIC_CODES: tuple[str, ...] = tuple(code for code, _, _ in CARD_TOPICS)
_DISPLAY = {code: display for code, display, _ in CARD_TOPICS}


def topic_system(crd_version: str) -> str:
    return vocabulary(crd_version).topic_system


def _max_cards(config: dict) -> int:
    value = config.get("max-cards", DEFAULT_MAX_CARDS)
    if isinstance(value, bool) or not isinstance(value, int):
        return DEFAULT_MAX_CARDS
    return max(value, 0)


def render_response(determinations: Sequence[Determination], draft_orders: Sequence[dict], *, hook: str,
                    crd_version: str, config: dict | None, today: date, smart_link: SmartLink) -> dict:
    config = config if isinstance(config, dict) else {}
    enabled = {code for code in TOPIC_CODES if config.get(code, True) is not False}
    system = topic_system(crd_version)
    cards = []
    for d in drafts(determinations, draft_orders, enabled, smart_link):
        card = {
            "uuid": str(uuid.uuid4()),
            "summary": d.summary,
            "detail": d.detail,
            "indicator": d.indicator,
            "source": {"label": d.det.payer or "Health plan",
                       "topic": {"system": system, "code": d.topic, "display": _DISPLAY[d.topic]}},
            "extension": {"davinci-crd.associated-resource": [d.det.order_ref]},
        }
        if d.det.policy_url.startswith("https://"):
            card["source"]["url"] = d.det.policy_url
        if d.link:
            card["links"] = [d.link]
        cards.append(card)
    cards = cards[: _max_cards(config)]
    response: dict = {"cards": cards}
    if hook in COVERAGE_HOOKS and "coverage-info" in enabled:
        actions = []
        for det, order in zip(determinations, draft_orders, strict=False):
            action = system_action(det, order, hook=hook, crd_version=crd_version, today=today)
            if action:
                actions.append(action)
        if actions:
            response["systemActions"] = actions
    return response
