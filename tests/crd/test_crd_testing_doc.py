"""The examples of docs/crd-testing.md answer as the page says (CRD 2.0.1 / 2.2 ext-coverage-information):
each JSON block under an ``<!-- example: CRD x -->`` marker is run through the service's handler
offline (as ``painpa evaluate`` runs it) at that version and at 2.2, and its answer holds only that
version's codes, with the ESI order needing prior authorization and the diet order the version's
"no determination"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cds_service.config import Settings
from cds_service.hooks.request import parse_request
from cds_service.hooks.service import HookCall
from cds_service.render.versions import vocabulary
from cds_service.services import REGISTRY
from tests.crd.version_walk import coverage_extensions, problems
from tests.support.fhir_builders import TODAY

DOC = Path(__file__).resolve().parents[2] / "docs" / "crd-testing.md"
EXAMPLE = re.compile(r"<!-- example: CRD ([\d.]+) -->\s*```json\n(.*?)```", re.S)
EXAMPLES = EXAMPLE.findall(DOC.read_text(encoding="utf-8"))


def test_the_page_has_examples():
    assert EXAMPLES


@pytest.mark.parametrize("answer_in", ["as marked", "2.2"])
@pytest.mark.parametrize(("version", "text"), EXAMPLES, ids=[v for v, _ in EXAMPLES])
def test_doc_example_answers_in_its_version(policies, version, text, answer_in):
    import json

    body = json.loads(text)
    if answer_in != "as marked":
        body["extension"] = {"davinci-crd.requestedVersion": answer_in}
        version = answer_in
    service = REGISTRY.for_hook(body["hook"])
    req = parse_request(body, service.hook)
    assert req.crd_version == vocabulary(version).version
    call = HookCall(service=service, request=req, settings=Settings.from_env(env={}), db=None, policies=policies,
                    today=TODAY)
    response = service.handler(call).response
    assert problems(response, version) == []
    by_order = {}
    for action in response["systemActions"]:
        (ext,) = [e for e in coverage_extensions(action)]
        by_order[action["resource"]["id"]] = {s["url"]: next(v for k, v in s.items() if k.startswith("value"))
                                              for s in ext["extension"]}
    assert by_order["esi-1"]["pa-needed"] == "auth-needed"
    nd = vocabulary(version).no_determination
    assert by_order["diet-1"]["covered"] == nd["covered"] and by_order["diet-1"]["pa-needed"] == nd["pa-needed"]
