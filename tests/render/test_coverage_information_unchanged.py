"""The CRD coverage-information systemActions (CRD 2.0.1/2.2 coverage-information; CC-42..CC-49)
of every scenario in the golden matrix are byte-identical to what they were before the cards were
rewritten for reading in a hurry: the card wording changed, the payer-facing assertion did not.

tests/render/data/coverage-information-sha256.json holds, per golden scenario and hook, the SHA-256
of the compact JSON of its ``systemActions`` (card uuids normalised), recorded from the golden
files as they stood before the card rewrite. Change it only with a change of coverage-information.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from cds_service.policy.engine import evaluate
from cds_service.render import render_response
from tests.policy.scenarios import matrix
from tests.support.fake_smart_link import fake_smart_link
from tests.support.fhir_builders import TODAY

DIGESTS = json.loads((Path(__file__).parent / "data" / "coverage-information-sha256.json").read_text())
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SCENARIOS = matrix()
HOOKS = (("order-sign", "2.2"), ("order-select", "2.0.1"))


def _digest(actions: list) -> str:
    text = UUID.sub("<uuid>", json.dumps(actions, ensure_ascii=False, separators=(",", ":")))
    return hashlib.sha256(text.encode()).hexdigest()


def test_every_golden_scenario_has_a_recorded_digest():
    assert set(DIGESTS) == {f"{s.name} {hook}/{v}" for s in SCENARIOS for hook, v in HOOKS}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_coverage_information_is_byte_identical(scenario, policies):
    orders, patient = scenario.build()
    dets = evaluate(orders, patient.record(), policies, TODAY)
    golden = json.loads((GOLDEN / f"{scenario.name}.json").read_text(encoding="utf-8"))
    for hook, version in HOOKS:
        resp = render_response(dets, orders, hook=hook, crd_version=version, config={}, today=TODAY,
                               smart_link=fake_smart_link)
        key = f"{scenario.name} {hook}/{version}"
        assert _digest(resp.get("systemActions", [])) == DIGESTS[key], key
        assert _digest(golden[f"{hook}/{version}"].get("systemActions", [])) == DIGESTS[key], key
