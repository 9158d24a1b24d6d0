"""Policy data loading: schema validation with errors naming file and field, cross-references,
versioning by effective date (ARCHITECTURE.md: every list and threshold is dated data)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from cds_service.policy.loader import DEFAULT_ROOT, PolicyError, load_policies


@pytest.fixture
def data_copy(tmp_path) -> Path:
    root = tmp_path / "fhir_profiles"
    shutil.copytree(DEFAULT_ROOT / "policies", root / "policies")
    shutil.copytree(DEFAULT_ROOT / "valuesets", root / "valuesets")
    return root


def _edit(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_shipped_data_loads_with_every_family_and_pack(policies):
    assert {"esi", "scs", "pva", "medicare-programs", "pack:example-ma-evicore", "pack:example-commercial-bcbs"} <= set(policies.docs)
    assert policies.vs("wiser-esi").codes() == {"62321", "62323", "64479", "64480", "64483", "64484"}
    assert policies.vs("wiser-ens").codes() == {"63655"}
    assert policies.vs("wiser-pva").codes() == {f"2251{i}" for i in range(6)}


def test_schema_error_names_file_and_field(data_copy):
    target = data_copy / "policies" / "families" / "esi-2021-12-05.json"
    _edit(target, lambda d: d["requirements"][3].update(kind="sometimes"))
    with pytest.raises(PolicyError) as err:
        load_policies(data_copy)
    assert err.value.file.endswith("esi-2021-12-05.json")
    assert err.value.field == "requirements/3/kind"


def test_unknown_valueset_reference_is_rejected(data_copy):
    target = data_copy / "policies" / "medicare-programs-2026-01-01.json"
    _edit(target, lambda d: d["programs"][0]["families"]["esi"].update(pa_codes="no-such-list"))
    with pytest.raises(PolicyError, match="no-such-list") as err:
        load_policies(data_copy)
    assert err.value.field == "programs/0/families/esi/pa_codes"


def test_invalid_json_names_the_line(data_copy):
    (data_copy / "valuesets" / "wiser-esi.json").write_text('{"resourceType": "ValueSet",\n  oops}')
    with pytest.raises(PolicyError, match="line 2"):
        load_policies(data_copy)


def test_a_form_must_name_a_shipped_questionnaire(data_copy):
    shutil.copytree(DEFAULT_ROOT / "questionnaires", data_copy / "questionnaires")
    load_policies(data_copy)                                   # the shipped forms all exist
    target = data_copy / "policies" / "families" / "pva-2021-01-10.json"
    _edit(target, lambda d: d["requirements"][0].update(form="diagnoses"))
    with pytest.raises(PolicyError, match="diagnoses") as err:
        load_policies(data_copy)
    assert err.value.file.endswith("pva-2021-01-10.json") and err.value.field == "requirements/0/form"


def test_pack_override_of_missing_requirement_is_rejected(data_copy):
    target = data_copy / "policies" / "packs" / "example-ma-evicore-2026-01-01.json"
    _edit(target, lambda d: d["families"]["esi"]["overrides"].update({"esi.nope": {"citation": d["citation"]}}))
    with pytest.raises(PolicyError, match="esi.nope"):
        load_policies(data_copy)


def test_versions_are_chosen_by_date_of_service(data_copy):
    src = data_copy / "policies" / "medicare-programs-2026-01-01.json"
    newer = json.loads(src.read_text())
    newer.update(effective="2027-07-01", version="2027-07-01")
    newer["programs"][0]["states"] = ["TX"]          # e.g. CMS narrows the model
    (data_copy / "policies" / "medicare-programs-2027-07-01.json").write_text(json.dumps(newer))
    policies = load_policies(data_copy)
    assert policies.programs(date(2027, 6, 30)).data["programs"][0]["states"] == ["AZ", "NJ", "OH", "OK", "TX", "WA"]
    assert policies.programs(date(2027, 7, 1)).data["programs"][0]["states"] == ["TX"]
    assert policies.programs(date(2025, 12, 31)) is None


def test_duplicate_effective_date_is_rejected(data_copy):
    src = data_copy / "policies" / "families" / "esi-2021-12-05.json"
    shutil.copy(src, src.with_name("esi-copy.json"))
    with pytest.raises(PolicyError, match="share effective date"):
        load_policies(data_copy)


def test_every_valueset_names_its_source(policies):
    root = DEFAULT_ROOT / "valuesets"
    for path in root.glob("*.json"):
        data = json.loads(path.read_text())
        if data["resourceType"] == "ValueSet":
            assert data["description"] and data["extension"][0]["extension"][0]["url"] == "source", path.name


def test_unconfirmed_items_are_flagged_in_data(policies):
    """domain.md: what a source could not confirm is data flagged UNCONFIRMED, never silently hard-coded."""
    esi = policies.doc("esi", date(2026, 12, 1)).data
    contra = next(r for r in esi["requirements"] if r["id"] == "esi.contraindications")
    assert contra["citation"]["status"] == "unconfirmed"
    assert "7258" in policies.vs("conservative-medications").unconfirmed          # naproxen RxCUI
    assert policies.vs("wiser-esi-associated").status == "confirmed"              # guide v6.0 Appendix C
    assert "01938" not in policies.vs("wiser-esi-associated").codes()             # not listed in Table C10


def test_check_params_are_validated_including_pack_overrides(data_copy):
    target = data_copy / "policies" / "families" / "esi-2021-12-05.json"
    _edit(target, lambda d: d["requirements"][5]["params"].update(week=4))       # typo for "weeks"
    with pytest.raises(PolicyError) as err:
        load_policies(data_copy)
    assert err.value.field == "requirements/5/params" and "week" in str(err.value)


def test_pack_override_params_are_validated_after_merging(data_copy):
    target = data_copy / "policies" / "packs" / "example-ma-evicore-2026-01-01.json"
    _edit(target, lambda d: d["families"]["esi"]["overrides"]["esi.repeat-relief"]["params"].update(improvement=50))
    with pytest.raises(PolicyError) as err:
        load_policies(data_copy)
    assert err.value.field == "families/esi/overrides/esi.repeat-relief/params/improvement"
