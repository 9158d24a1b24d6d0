"""The CRD version a response is shaped to, and what that version defines (CRD 2.0.1 / 2.1.0 /
2.2.1 ``StructureDefinition-ext-coverage-information`` and its value sets; CRD 2.2 deviations.md
dev-1..3 ``davinci-crd.version`` / ``davinci-crd.requestedVersion``; standards.md §0.1, §2.3, §2.5).

The vocabulary is data (``crd_versions.json``, schema ``crd_versions.schema.json``), one entry per
answered version with the IG source it was transcribed from. :func:`answered_version` picks the
version: the request's ``davinci-crd.requestedVersion`` when it sends one, else the version the
client was registered for (``painpa clients add --crd-version``), else 2.0.1 — what Inferno's CRD
test kit validates and what a client that predates the version extensions speaks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsonschema

_HERE = Path(__file__).resolve().parent


class UnsupportedVersion(ValueError):
    """A CRD version painpa does not answer; the message names the ones it does."""


@dataclass(frozen=True)
class Vocabulary:
    version: str
    source: str
    sub_extensions: frozenset[str]
    repeats_once: frozenset[str]
    codes: dict[str, frozenset[str]]
    reason_codes: frozenset[str]
    detail_sub_extensions: frozenset[str]
    no_determination: dict[str, str]
    topic_system: str
    topics: frozenset[str]
    topic_parent: dict[str, str]

    def allows(self, sub_extension: str) -> bool:
        return sub_extension in self.sub_extensions

    def topic(self, code: str) -> str:
        """``code`` as this version's card type: a code it does not define becomes the parent it
        was split from (``unsolicited-determ`` is a child of ``coverage-info`` from 2.1 on)."""
        return code if code in self.topics else self.topic_parent.get(code, code)


@cache
def _data() -> dict:
    data = json.loads((_HERE / "crd_versions.json").read_text(encoding="utf-8"))
    schema = json.loads((_HERE / "crd_versions.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    if data["default"] not in data["versions"] or not set(data["requested"].values()) <= set(data["versions"]):
        raise ValueError("crd_versions.json: default and requested versions must name a defined version")
    return data


@cache
def vocabulary(version: str) -> Vocabulary:
    """What ``version`` (an answered version, or a ``major.minor`` such as ``2.2``) defines."""
    data = _data()
    key = version if version in data["versions"] else data["requested"].get(version)
    if key is None:
        raise UnsupportedVersion(f"CRD version {version!r} is not answered; use one of {', '.join(answered())}")
    v = data["versions"][key]
    return Vocabulary(
        version=key, source=v["source"], sub_extensions=frozenset(v["sub_extensions"]),
        repeats_once=frozenset(v["repeats_once"]),
        codes={name: frozenset(codes) for name, codes in v["codes"].items()},
        reason_codes=frozenset(v["reason_codes"]), detail_sub_extensions=frozenset(v["detail_sub_extensions"]),
        no_determination=dict(v["no_determination"]), topic_system=v["topic_system"],
        topics=frozenset(v["topics"]), topic_parent=dict(v["topic_parent"]),
    )


def answered() -> tuple[str, ...]:
    """Every answered version, oldest first."""
    return tuple(_data()["versions"])


def requestable() -> tuple[str, ...]:
    """The ``major.minor`` values a request's ``davinci-crd.requestedVersion`` may carry."""
    return tuple(_data()["requested"])


def answered_version(requested: str | None, registered: str | None = None) -> str:
    """The version of the answer: the request's, else the client's registered one, else the default.
    Raises :class:`UnsupportedVersion` for a requested version painpa does not answer."""
    for candidate in (requested, registered):
        if candidate is not None:
            return vocabulary(candidate).version
    return _data()["default"]


def conform_cards(response: dict, crd_version: str) -> dict:
    """``response`` with each card's ``source.topic`` in the answered version's terms: its system,
    and a code it defines (a topic split off in a later version becomes its parent). Applied after
    the cards are built, so the card wording stays the renderer's concern."""
    vocab = vocabulary(crd_version)
    for card in response.get("cards") or ():
        topic = (card.get("source") or {}).get("topic")
        if isinstance(topic, dict) and isinstance(topic.get("code"), str):
            topic["system"] = vocab.topic_system
            code = vocab.topic(topic["code"])
            if code != topic["code"]:
                topic["code"] = code
                topic.pop("display", None)   # the child's display would mislabel the parent
    return response
