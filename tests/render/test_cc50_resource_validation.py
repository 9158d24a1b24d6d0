"""CC-50 (standards.md §10 E), as far as it can run here: every FHIR resource painpa returns in a
systemAction or a suggestion validates against the FHIR R4 structure.

The HL7 FHIR Validator CLI with the CRD 2.0.1 / 2.2.1 packages (what Inferno runs) cannot be
installed on this machine, so the structural half of the check uses ``fhir.resources.R4B``. R4B
shares R4's definitions for the order resources painpa updates (ServiceRequest, DeviceRequest,
MedicationRequest, NutritionOrder); it does not check CRD profile constraints, which
tests/support/response_checks.py (CC-42..49) and cds_service.render.invariants cover instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "golden").glob("*.json"))


def _returned_resources(response: dict):
    for action in response.get("systemActions") or ():
        if "resource" in action:
            yield action["resource"]
    for card in response.get("cards") or ():
        for suggestion in card.get("suggestions") or ():
            for action in suggestion.get("actions") or ():
                if "resource" in action:
                    yield action["resource"]


def test_the_golden_set_returns_resources_to_validate():
    returned = [r for path in GOLDEN for resp in json.loads(path.read_text()).values()
                if isinstance(resp, dict) for r in _returned_resources(resp)]
    assert len(GOLDEN) >= 50 and len(returned) >= 50


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_cc50_every_returned_resource_is_valid_r4(path):
    for name, response in json.loads(path.read_text()).items():
        if not isinstance(response, dict):
            continue
        for resource in _returned_resources(response):
            model = get_fhir_model_class(resource["resourceType"])
            model.model_validate(resource)  # raises pydantic.ValidationError naming the element
            assert any(e.get("url", "").endswith("ext-coverage-information") for e in resource.get("extension", ())), (
                f"{path.stem} {name}: a returned {resource['resourceType']} carries no coverage-information"
            )
