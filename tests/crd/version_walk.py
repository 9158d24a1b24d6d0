"""What a response may say in one CRD version: every coverage-information extension anywhere in it
(systemActions, suggestions) checked by the invariant port against that version's data
(cds_service/render/invariants.py, render/versions.py), and every card topic in that version's
system and card-type codes. Shared by the version tests of tests/crd."""

from __future__ import annotations

from cds_service.render import COVERAGE_INFO_URL
from cds_service.render.invariants import violations
from cds_service.render.versions import vocabulary
from tests.support.response_checks import walk


def coverage_extensions(response: dict) -> list[dict]:
    return [v for _, v in walk(response) if isinstance(v, dict) and v.get("url") == COVERAGE_INFO_URL]


def problems(response: dict, version: str) -> list[str]:
    """Everything in ``response`` that CRD ``version`` does not define; [] when it is version-true."""
    vocab = vocabulary(version)
    out = [f"coverage-information: {p}" for ext in coverage_extensions(response) for p in violations(ext, version)]
    for card in response.get("cards") or ():
        topic = card["source"]["topic"]
        if topic["system"] != vocab.topic_system:
            out.append(f"card topic system {topic['system']} is not {version}'s")
        if topic["code"] not in vocab.topics:
            out.append(f"card topic {topic['code']!r} not defined in {version}")
    return out
