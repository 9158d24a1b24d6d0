"""The reason-mapping table (CMS-0057-F specific denial reasons, domain.md §3): payer reasons, as
text and X12 CARC/RARC codes, each mapped to the policy requirement it concerns, or to none (then it
is listed for review). The table is reason_table.csv beside this file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cds_service.denials.mapping import Reason, map_reason, split_codes
from cds_service.denials.rules import DENIALS_DIR, RulesError, load_denial_data
from cds_service.policy.loader import load_policies

TABLE = list(csv.DictReader((Path(__file__).parent / "reason_table.csv").read_text().splitlines()))


@pytest.fixture(scope="module")
def data():
    return load_denial_data()


@pytest.mark.parametrize("row", TABLE, ids=[f"{r['code']}:{(r['text'] or r['carc'] or r['rarc'])[:40]}" for r in TABLE])
def test_reason_maps_to_requirement(row, data):
    reason = Reason(row["text"], split_codes(row["carc"]), split_codes(row["rarc"]))
    rule = map_reason(reason, data.family_of(row["code"]), data)
    assert (rule.requirement if rule else "") == row["expected"]


def test_every_rule_names_a_real_requirement_and_cites_a_source(data):
    policies = load_policies()
    known = {r["id"] for versions in policies.docs.values() for d in versions
             for r in d.data.get("requirements", ()) if d.type == "family"}
    special = json.loads((DENIALS_DIR / "reason-rules.json").read_text())["special_requirements"]
    for rule in data.rules:
        assert rule.requirement in known | set(special), rule.id
        assert rule.source["url"].startswith("https://")


def test_family_scoping_keeps_a_pva_imaging_reason_off_the_esi_requirement(data):
    rule = map_reason(Reason("MRI not provided"), "pva", data)
    assert rule.requirement == "pva.imaging"
    assert map_reason(Reason("MRI not provided"), "esi", data).requirement == "esi.imaging"


def test_carc_group_codes_are_ignored_when_matching():
    assert split_codes("CO 50; N115,M127") == ("CO-50", "N115", "M127")


def test_bad_rule_file_is_refused_naming_file_and_field(tmp_path):
    for name in ("reason-rules.json", "service-groups.json", "goldcard.json"):
        (tmp_path / name).write_text((DENIALS_DIR / name).read_text())
    broken = json.loads((tmp_path / "reason-rules.json").read_text())
    broken["rules"][0]["text"] = ["(unclosed"]
    (tmp_path / "reason-rules.json").write_text(json.dumps(broken))
    with pytest.raises(RulesError, match=r"reason-rules.json: rules/0/text: bad regular expression"):
        load_denial_data(tmp_path)
    broken["rules"][0]["requirement"] = "no dot"
    (tmp_path / "reason-rules.json").write_text(json.dumps(broken))
    with pytest.raises(RulesError, match=r"reason-rules.json: rules/0/requirement"):
        load_denial_data(tmp_path)


def test_gold_card_threshold_is_flagged_unconfirmed(data):
    assert data.goldcard.min_requests == 10
    assert data.goldcard.threshold_confirmed is False and "NOT published" in data.goldcard.note
