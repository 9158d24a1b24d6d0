"""Malformed Coverage from the EHR (shapes the hook fuzzing found): reading payer and plan keys never
raises, whatever JSON shape payor / identifier / class hold, and the well-formed parts of a Coverage
still find the plan's denial history for the card (no broad ``except`` hiding it)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.denials.records import norm_key
from cds_service.denials.stats import coverage_keys
from tests.support.denial_cards import COVERAGE, cards_for

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=10)


def _maybe(keys: dict) -> st.SearchStrategy[dict]:
    """A dict with any subset of ``keys``, each either its FHIR-ish shape or arbitrary JSON."""
    return st.fixed_dictionaries({}, optional={k: v | JSON for k, v in keys.items()})


IDENTIFIER = _maybe({"system": st.text(max_size=8), "value": st.text(max_size=8)})
PAYOR = _maybe({"reference": st.sampled_from(["Organization/o1", "Organization/missing", "o1", ""]),
                "display": st.text(max_size=12), "identifier": IDENTIFIER | st.lists(IDENTIFIER, max_size=2)})
CODING = _maybe({"system": st.text(max_size=8), "code": st.sampled_from(["plan", "group"])})
CLASS = _maybe({"type": _maybe({"coding": st.lists(CODING | JSON, max_size=2)}), "value": st.text(max_size=8),
                "name": st.text(max_size=8)})
COVERAGES = st.none() | JSON | _maybe({"payor": st.lists(PAYOR | JSON, max_size=3), "class": st.lists(CLASS | JSON, max_size=3)})
ORGS = st.dictionaries(st.sampled_from(["Organization/o1", "o1"]),
                       JSON | _maybe({"name": st.text(max_size=8), "identifier": st.lists(IDENTIFIER | JSON, max_size=2)}),
                       max_size=2)


@settings(max_examples=300, deadline=None)
@given(coverage=COVERAGES, orgs=ORGS)
def test_any_coverage_shape_gives_keys_never_an_exception(coverage, orgs):
    payers, plan = coverage_keys(coverage, orgs.get)
    assert isinstance(payers, set) and isinstance(plan, str)
    assert all(isinstance(k, str) and k and norm_key(k) == k for k in payers)   # no blank key matches everyone


@settings(max_examples=200, deadline=None)
@given(junk=st.lists(PAYOR | JSON, max_size=3), classes=st.lists(JSON, max_size=3))
def test_a_well_formed_payor_and_plan_count_whatever_sits_beside_them(junk, classes):
    good = {"display": "Example  Advantage Plan", "identifier": {"value": "EXAMPLE-MA"}}
    plan = {"type": {"coding": [{"code": "plan"}]}, "name": "Gold HMO"}
    payers, got = coverage_keys({"payor": [*junk, good], "class": [*classes, plan]}, {}.get)
    assert {"example advantage plan", "example-ma"} <= payers
    assert got == "gold hmo" or any(isinstance(c, dict) and c.get("type") for c in classes)


@pytest.mark.parametrize("junk", [["a string"], [{"identifier": [1, 2]}], [{"display": 42, "reference": 7}],
                                  [{"identifier": {"value": ["x"]}}]])
def test_denial_history_still_reaches_the_card_when_the_coverage_is_partly_malformed(seeded, settings, policies, junk):
    coverage = copy.deepcopy(COVERAGE)
    coverage["payor"] = [*junk, *coverage["payor"]]
    coverage["class"] = ["junk", {"type": "plan"}, *coverage["class"]]
    details = " ".join(c["detail"] for c in cards_for(seeded, settings, policies, coverage))
    assert "denied 4 of its last 10 lumbar ESIs for missing conservative-care" in details
