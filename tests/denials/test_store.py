"""Imports through SQLAlchemy on SQLite and PostgreSQL (CMS-0057-F specific denial reasons and public
metrics, domain.md §3): idempotent CSV import, reasons mapped on the way in, unmapped ones listed,
top failing requirements per payer and plan by month, gold-card readiness and the payer scorecard."""

from __future__ import annotations

from datetime import date, timedelta

from cds_service.denials import goldcard, scorecard, stats
from cds_service.denials.imports import import_csv
from cds_service.denials.rules import default_data
from cds_service.denials.tables import Decision
from tests.support.denial_data import DATA, SALT

TODAY = date(2026, 11, 29)


def test_csv_import_is_idempotent_and_maps_reasons(db):
    first = import_csv(db, "denials", (DATA / "denials.csv").read_bytes(), salt=SALT)
    again = import_csv(db, "denials", (DATA / "denials.csv").read_bytes(), salt=SALT)
    assert (first.added, first.duplicates, first.unmapped) == (41, 0, 2)
    assert (again.added, again.duplicates) == (0, 41)
    with db.session() as s:
        assert s.query(Decision).count() == 41


def test_bad_rows_are_reported_by_line_and_the_rest_imported(db):
    raw = (b"payer,code,date,outcome\nAcme,64483,2026-10-01,denied\nAcme,64483,yesterday,denied\n"
           b"Acme,64483,2026-10-02,maybe\n")
    report = import_csv(db, "denials", raw, salt=SALT)
    assert report.added == 1
    assert report.errors == ["line 3: date 'yesterday' is not YYYY-MM-DD or MM/DD/YYYY",
                             "line 4: outcome 'maybe' is not one of affirmed/denied/partial/pended"]


def test_top_failing_requirements_per_payer_and_plan(seeded):
    rows = stats.requirement_months(seeded, TODAY - timedelta(days=365), TODAY)
    top = {(g["payer"], g["plan"]): g for g in stats.top_requirements(rows)}
    gold = top[("Example Advantage Plan", "Gold HMO")]
    assert gold["top"][0] == {"requirement": "esi.conservative-care", "denials": 5}
    assert {"requirement": "esi.baseline-scale", "denials": 1} in gold["top"]
    assert top[("Example Advantage Plan", "Silver PPO")]["top"] == [{"requirement": "esi.imaging", "denials": 1}]
    months = {r["month"] for r in rows if r["plan"] == "Gold HMO"}
    assert {"2025-12", "2026-10"} <= months


def test_unmapped_reasons_are_listed_for_review(seeded):
    rows = stats.unmapped_reasons(seeded)
    assert [(r["payer"], r["text"], r["carc"], r["count"]) for r in rows] == [
        ("Acme Health PPO", "Duplicate claim/service", "CO-18", 2)]


def test_gold_card_readiness_per_clinician_and_program(seeded):
    cfg = default_data().goldcard
    rows = goldcard.readiness(goldcard.load_pa_decisions(seeded, TODAY - timedelta(days=365)), cfg, today=TODAY)
    by = {(r.clinician_label, r.program): r for r in rows}
    lee = by[("Dr. Jordan Lee", "WISeR")]
    assert (lee.requests, lee.affirmed, lee.status) == (12, 11, "ready")
    patel = by[("Dr. Asha Patel", "WISeR")]
    assert (patel.requests, patel.affirmed, patel.status, patel.needed) == (11, 8, "below-threshold", 19)
    kim = by[("Dr. Min Kim", "WISeR")]
    assert (kim.status, kim.needed) == ("too-few-requests", 6)
    plan = by[("Dr. Jordan Lee", "Example Advantage Plan / Gold HMO")]
    assert (plan.requests, plan.affirmed) == (11, 5)
    # A lower, operator-chosen threshold changes the verdict: the threshold is configuration.
    relaxed = goldcard.readiness(goldcard.load_pa_decisions(seeded, TODAY - timedelta(days=365)), cfg,
                                 today=TODAY, threshold=0.7)
    assert {(r.clinician_label, r.program): r.status for r in relaxed}[("Dr. Asha Patel", "WISeR")] == "ready"


def test_payer_scorecard_compares_published_with_own(seeded):
    rows = {(r.payer, r.plan, r.year): r for r in scorecard.scorecard(seeded)}
    gold = rows[("Example Advantage Plan", "Gold HMO", 2026)]
    assert gold.own.requests == 10
    assert (gold.own.pct_approved, gold.own.pct_denied, gold.own.pct_approved_after_appeal) == (50.0, 50.0, 10.0)
    assert gold.own.median_hours_standard == 72.0
    assert gold.deltas()["pct_approved"] == -38.5
    medicare = rows[("Medicare Part A/B (MAC)", "", 2026)]
    assert medicare.own.requests == 27 and medicare.own.pct_approved == 85.2


def test_metrics_reimport_replaces_the_row(seeded):
    raw = b"payer,plan,year,pct_approved\nExample Advantage Plan,Gold HMO,2026,80\n"
    report = import_csv(seeded, "metrics", raw, salt=SALT)
    assert (report.added, report.duplicates) == (0, 1)
    rows = {(r.payer, r.plan, r.year): r for r in scorecard.scorecard(seeded)}
    assert rows[("Example Advantage Plan", "Gold HMO", 2026)].published["pct_approved"] == 80.0
