"""Every requirement of domain.md §7 for ESI, SCS and PVA is either enforced (a requirement in the
policy data, exercised by a named test in this folder) or listed in the policy data's
``not_enforceable`` with the reason. This test keeps that ledger honest."""

from __future__ import annotations

import ast
from datetime import date
from functools import cache
from pathlib import Path

import pytest

# §7 item -> ("enforced", requirement id, "module::test") or ("data-flagged", not_enforceable id)
LEDGER = {
    "esi": {
        "Qualifying diagnosis, not axial-only pain": ("enforced", "esi.diagnosis", "test_checks::test_axial_pain_alone_does_not_qualify"),
        "Pain onset >= 4 weeks": ("enforced", "esi.pain-duration", "test_checks::test_pain_duration_waits_on_the_diagnosis_card"),
        ">= 4 weeks conservative therapy or intolerance": ("enforced", "esi.conservative-care", "test_checks::test_intolerance_attestation_replaces_the_four_weeks"),
        "Conservative care continuing + active rehab/HEP": ("enforced", "esi.active-program", "test_scenarios::test_scenario_outcome"),
        "Baseline scale observation": ("enforced", "esi.baseline-scale", "test_checks::test_unknown_only_when_the_query_failed"),
        "Same scale after a prior ESI; >= 50% for >= 3 months": ("enforced", "esi.repeat-relief", "test_checks::test_repeat_needs_sustained_relief_on_the_same_scale"),
        "Count sessions per region in 365 days; flag a 5th": ("enforced", "esi.frequency", "test_checks::test_frequency_counts_sessions_per_region_not_codes"),
        "Concordant imaging report": ("enforced", "esi.imaging", "test_scenarios::test_scenario_outcome"),
        "Imaging concordance judged from report text": ("data-flagged", "esi.imaging-concordance"),
        "62320/62322 (no imaging) not covered": ("enforced", "esi.noncovered-variant", "test_checks::test_no_imaging_variant_is_not_covered"),
        "Ultrasound only with contrast allergy / pregnancy": ("data-flagged", "esi.ultrasound-exception"),
        "KX for a diagnostic SNRB": ("data-flagged", "esi.kx-modifier"),
        "One region per session": ("enforced", "esi.single-region", "test_checks::test_one_region_per_session"),
        "Levels per session": ("data-flagged", "esi.levels-per-session"),
        "Contraindications (infection, compressive lesion)": ("enforced", "esi.contraindications", "test_checks::test_active_infection_is_a_contraindication"),
        "Underperforming first ESI: repeat after 14 days, different approach": ("enforced", "esi.repeat-relief", "test_edges::test_underperforming_first_esi_allows_a_repeat_with_a_different_approach_after_14_days"),
        "Sedation need documented": ("data-flagged", "esi.sedation"),
        "Sessions / approach / levels planned": ("data-flagged", "esi.session-plan"),
    },
    "scs": {
        "Failed multimodal therapy": ("enforced", "scs.modalities", "test_scenarios::test_scenario_outcome"),
        "Psychological evaluation": ("enforced", "scs.psych-eval", "test_scenarios::test_scenario_outcome"),
        "Trial with >= 50% relief before the permanent implant": ("enforced", "scs.trial", "test_checks::test_scs_trial_replacement_and_relief"),
        "Trial functional restoration (WISeR)": ("enforced", "scs.trial-function", "test_scenarios::test_scenario_outcome"),
        "WISeR 63655: not a candidate for percutaneous leads": ("enforced", "scs.percutaneous-not-candidate", "test_checks::test_percutaneous_lead_reason_only_for_wiser_paddle_leads"),
        "No active substance abuse": ("enforced", "scs.substance-use", "test_checks::test_substance_use_disorder_blocks_scs"),
        "Multidisciplinary screening": ("enforced", "scs.multidisciplinary", "test_scenarios::test_scenario_outcome"),
        "Analgesic-reduction alternative (L36204)": ("data-flagged", "scs.analgesic-reduction"),
        "Facilities and staff": ("data-flagged", "scs.facilities"),
    },
    "pva": {
        "Vertebral fracture dx (or neoplasm + M84.58XA)": ("enforced", "pva.diagnosis", "test_checks::test_pva_old_fracture_and_neoplasm_pairing"),
        "Acute/subacute (< 12 weeks)": ("enforced", "pva.acuity", "test_checks::test_pva_old_fracture_and_neoplasm_pairing"),
        "MRI / bone scan / CT confirmation": ("enforced", "pva.imaging", "test_scenarios::test_scenario_outcome"),
        "NRS >= 8 inpatient, >= 5 outpatient": ("enforced", "pva.pain-severity", "test_checks::test_pva_pain_threshold_is_higher_for_inpatients"),
        "Progression / > 25% height loss / kyphosis / RDQ > 17": ("enforced", "pva.progression", "test_scenarios::test_scenario_outcome"),
        "Osteoporosis work-up plan": ("enforced", "pva.osteoporosis-plan", "test_checks::test_osteoporosis_plan_not_required_for_neoplastic_fracture"),
        "No contraindications (infection, pregnancy)": ("enforced", "pva.contraindications", "test_scenarios::test_scenario_outcome"),
        "Relative contraindications": ("data-flagged", "pva.relative-contraindications"),
        "At most 3 levels": ("data-flagged", "pva.levels"),
    },
}


@cache
def _tests_in(module: str) -> frozenset[str]:
    """The test functions a test module of this folder defines, read from its source (not imported)."""
    tree = ast.parse((Path(__file__).parent / f"{module}.py").read_text())
    return frozenset(node.name for node in tree.body if isinstance(node, ast.FunctionDef))


@pytest.mark.parametrize("family", sorted(LEDGER))
def test_every_section7_item_is_enforced_or_flagged(policies, family):
    doc = policies.doc(family, date(2026, 12, 10)).data
    required = {r["id"] for r in doc["requirements"]}
    flagged = {n["id"]: n for n in doc["not_enforceable"]}
    for item, entry in LEDGER[family].items():
        if entry[0] == "enforced":
            _, rid, test = entry
            assert rid in required, f"{item}: {rid} missing from {family} policy"
            module, name = test.split("::")
            assert name in _tests_in(module), test
        else:
            assert entry[1] in flagged, f"{item}: not listed as not_enforceable"
            assert len(flagged[entry[1]]["reason"]) > 20


def test_every_not_enforceable_item_has_a_reason_and_source(policies):
    for family in LEDGER:
        for item in policies.doc(family, date(2026, 12, 10)).data["not_enforceable"]:
            assert item["reason"] and item["citation"]["source"]
