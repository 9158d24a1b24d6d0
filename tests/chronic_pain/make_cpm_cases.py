"""One-off builder of the CPM golden inputs (tests/chronic_pain/golden/*.input.json). Kept so a
reader can see how each case differs from the base patient; the inputs are the reviewed files.
Run on purpose: ``python -m tests.chronic_pain.make_cpm_cases``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tests.support.cpm_chart import care_plan, condition, minutes, scale, visit

OUT = Path(__file__).parent / "golden"
BASE = [condition("2025-06-01"), visit("2026-09-02T09:00:00"), scale("2026-11-03"), *care_plan()]

CASES = {
    "complete-month-g3002-plus-two-g3003": ("2026-11-20", [*BASE, minutes(1, "2026-11-03T10:00:00", 25),
                                                            minutes(2, "2026-11-10", 22), minutes(3, "2026-11-17", 15)]),
    "exactly-30-minutes": ("2026-11-20", [*BASE, minutes(1, "2026-11-03", 30)]),
    "44-minutes-no-addon": ("2026-11-20", [*BASE, minutes(1, "2026-11-03", 44)]),
    "45-minutes-one-addon": ("2026-11-20", [*BASE, minutes(1, "2026-11-03", 30), minutes(2, "2026-11-04", 15)]),
    "month-boundary-october-minutes-do-not-count": ("2026-11-15", [
        *BASE, minutes(1, "2026-10-31T23:30:00", 20), minutes(2, "2026-11-01T00:10:00", 20)]),
    "month-boundary-last-day-of-october": ("2026-10-31", [
        *BASE, minutes(1, "2026-10-31T23:30:00", 20), minutes(2, "2026-11-01T00:10:00", 20),
        minutes(3, "2026-10-02", 15), scale("2026-10-31")]),
    "future-dated-minutes-ignored": ("2026-11-10", [*BASE, minutes(1, "2026-11-05", 20), minutes(2, "2026-11-12", 20)]),
    "partial-month-initial-visit-mid-month": ("2026-11-28", [
        condition("2025-06-01"), visit("2026-11-10T14:00:00"), scale("2026-11-10"), *care_plan(),
        minutes(1, "2026-11-05", 15), minutes(2, "2026-11-12", 30)]),
    "partial-month-qualifies-mid-month": ("2026-11-28", [
        condition("2026-08-20"), visit("2026-09-02T09:00:00"), scale("2026-11-22"), *care_plan(),
        minutes(1, "2026-11-10", 20), minutes(2, "2026-11-25", 15)]),
    "unattributed-minutes-not-counted": ("2026-11-20", [*BASE, minutes(1, "2026-11-03", 20),
                                                        minutes(2, "2026-11-04", 25, performer=False)]),
    "missing-everything-but-diagnosis": ("2026-11-20", [condition("2025-06-01")]),
    "care-plan-without-strengths": ("2026-11-20", [condition("2025-06-01"), visit("2026-09-02T09:00:00"),
                                                   scale("2026-11-03"), *care_plan(strengths=False),
                                                   minutes(1, "2026-11-03", 31)]),
    "no-scale-this-month": ("2026-12-02", [*BASE, minutes(1, "2026-12-01", 35)]),
    "exactly-three-months-not-chronic": ("2026-04-30", [condition("2026-01-31")]),
    "three-months-and-a-day-chronic": ("2026-05-01", [condition("2026-01-31")]),
    "acute-pain-no-card": ("2026-11-20", [condition("2026-10-30")]),
    "resolved-condition-no-card": ("2026-11-20", [condition("2025-01-01", status="resolved")]),
    "chronic-pain-code-without-onset": ("2026-11-20", [condition(None, code="G89.29")]),
    "leap-clamp-onset-nov-30": ("2026-03-01", [condition("2025-11-30")]),
    "leap-clamp-onset-nov-30-day-before": ("2026-02-28", [condition("2025-11-30")]),
}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (today, resources) in CASES.items():
        (OUT / f"{name}.input.json").write_text(json.dumps({"today": today, "resources": copy.deepcopy(resources)},
                                                           indent=1) + "\n")
