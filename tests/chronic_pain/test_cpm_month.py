"""G3002/G3003 month logic (domain.md §4): golden cases for month boundaries, partial months and
add-on counting, plus the arithmetic the goldens rest on. Regenerate the expected files only on
purpose: ``PAINPA_REGEN_GOLDEN=1 pytest tests/chronic_pain/test_cpm_month.py``."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from cds_service.policy.cpm import add_months, billable_units, month_status
from cds_service.policy.loader import load_policies
from cds_service.policy.model import Status
from cds_service.policy.record import PatientRecord

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name.removesuffix(".input.json") for p in GOLDEN.glob("*.input.json"))


def summary(status) -> dict | None:
    if status is None:
        return None
    return {
        "month": str(status.month), "days_left": status.days_left,
        "qualified_on": str(status.qualified_on) if status.qualified_on else None,
        "condition": status.condition.reference, "minutes": status.minutes,
        "unattributed_minutes": status.unattributed_minutes, "g3002": status.g3002, "g3003": status.g3003,
        "minutes_to_next": status.minutes_to_next, "billable": status.billable,
        "requirements": [{"id": r.id, "status": str(r.status), "detail": r.detail,
                          "evidence": [e.reference for e in r.evidence]} for r in status.requirements],
    }


@pytest.mark.parametrize("case", CASES)
def test_cpm_golden(case, policies):
    given = json.loads((GOLDEN / f"{case}.input.json").read_text())
    record = PatientRecord.from_resources(given["resources"])
    got = summary(month_status(record, policies, date.fromisoformat(given["today"])))
    expected_path = GOLDEN / f"{case}.expected.json"
    if os.environ.get("PAINPA_REGEN_GOLDEN") == "1":
        expected_path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(expected_path.read_text())


@pytest.mark.parametrize(("minutes", "units"), [
    (0, (0, 0)), (29, (0, 0)), (30, (1, 0)), (44, (1, 0)), (45, (1, 1)), (59, (1, 1)),
    (60, (1, 2)), (74, (1, 2)), (75, (1, 3)), (120, (1, 6)),
])
def test_g3003_counts_each_further_full_15_minutes(minutes, units):
    assert billable_units(minutes) == units


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)), (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2025, 11, 30), 3, date(2026, 2, 28)), (date(2026, 10, 15), 3, date(2027, 1, 15)),
])
def test_add_months_clamps_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


def test_chronic_threshold_is_strictly_longer_than_three_months(policies):
    given = json.loads((GOLDEN / "exactly-three-months-not-chronic.input.json").read_text())
    record = PatientRecord.from_resources(given["resources"])
    assert month_status(record, policies, date(2026, 4, 30)) is None
    status = month_status(record, policies, date(2026, 5, 1))
    assert status is not None and status.qualified_on == date(2026, 5, 1)


def test_month_boundary_moves_minutes_with_the_calendar(policies):
    given = json.loads((GOLDEN / "month-boundary-last-day-of-october.input.json").read_text())
    record = PatientRecord.from_resources(given["resources"])
    october = month_status(record, policies, date(2026, 10, 31))
    november = month_status(record, policies, date(2026, 11, 1))
    assert (october.minutes, november.minutes) == (35, 20)
    assert october.days_left == 0 and november.days_left == 29


def test_complete_month_is_billable_and_every_requirement_cites_its_source(policies):
    given = json.loads((GOLDEN / "complete-month-g3002-plus-two-g3003.input.json").read_text())
    status = month_status(PatientRecord.from_resources(given["resources"]), policies, date(2026, 11, 20))
    assert status.billable and (status.g3002, status.g3003) == (1, 2)
    assert all(r.status is Status.MET and r.citation.url.startswith("https://") for r in status.requirements)


def test_broken_cpm_data_stops_start_up_naming_file_and_field(tmp_path):
    import shutil

    from cds_service.policy.loader import DEFAULT_ROOT, PolicyError

    root = tmp_path / "fhir_profiles"
    shutil.copytree(DEFAULT_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    doc = json.loads((root / "policies" / "cpm.json").read_text())
    doc["time"]["g3002_minutes"] = "thirty"
    (root / "policies" / "cpm.json").write_text(json.dumps(doc))
    with pytest.raises(PolicyError, match=r"cpm.json: time/g3002_minutes"):
        load_policies(root)
