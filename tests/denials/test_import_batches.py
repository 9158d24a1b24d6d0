"""Imports commit in batches (cds_service/denials/store.py): the write lock a hook call waits behind
is held for one batch, never for the whole file, and the import stays idempotent across batches and
across runs (CMS-0057-F denial import, domain.md §3).

The large file is the seed denials.csv (tests/denials/data) repeated 30 times under fresh ids, with
two lines repeated verbatim (one of them far apart, so that the copy lands in a later batch).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from cds_service.auth.replay import first_use
from cds_service.denials import store
from cds_service.denials.imports import import_csv
from cds_service.denials.rules import default_data
from cds_service.denials.tables import Decision, DenialReason, PayerMetric
from cds_service.store import init_db
from cds_service.store.base import Database
from tests.support.denial_data import DATA, SALT

COPIES = 30


def _seed_rows() -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO((DATA / "denials.csv").read_text()))
    return list(reader.fieldnames or []), list(reader)


def _csv(fields: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def big_file() -> tuple[bytes, int]:
    """(CSV bytes, number of distinct decision lines); two more lines repeat earlier ones."""
    fields, seed = _seed_rows()
    rows = [{**row, "id": f"{row['id']}-copy{n}"} for n in range(COPIES) for row in seed]
    distinct = len(rows)
    rows.insert(10, dict(rows[3]))      # a repeat inside the first batch
    rows.insert(900, dict(rows[12]))    # a repeat of a first-batch line, in the second batch
    return _csv(fields, rows), distinct


@contextmanager
def commits(db: Database, probe: bool = True) -> Iterator[list[bool]]:
    """One entry per committed session; with ``probe``, each entry says whether a hook-path write
    (a jti insert from another connection, 10 ms busy timeout) went through right after the commit."""
    other = Database(db.url, busy_timeout_ms=10)
    seen: list[bool] = []
    busy = False

    def after_commit(session) -> None:
        nonlocal busy
        if not probe or busy:
            seen.append(True)
            return
        busy = True
        try:
            exp = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
            try:
                seen.append(first_use(other, "https://probe.example.org", uuid.uuid4().hex, exp, 0))
            except Exception:  # noqa: BLE001 - the probe reports a locked database as a failed write
                seen.append(False)
        finally:
            busy = False

    event.listen(Session, "after_commit", after_commit)
    try:
        yield seen
    finally:
        event.remove(Session, "after_commit", after_commit)
        other.dispose()


def _decisions(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(Decision)),
                s.scalar(select(func.count(func.distinct(Decision.source_key)))),
                s.scalar(select(func.count()).select_from(DenialReason)))


@pytest.fixture
def seed(tmp_path):
    """What the small seed file imports as, on its own database (a few rows: one transaction)."""
    database = init_db(f"sqlite:///{tmp_path / 'seed.db'}")
    report = import_csv(database, "denials", (DATA / "denials.csv").read_bytes(), salt=SALT)
    counts = _decisions(database)
    database.dispose()
    return report, counts


def test_large_import_commits_in_batches_and_counts_exactly(db, seed):
    raw, distinct = big_file()
    seed_report, (_, _, seed_reasons) = seed
    with commits(db) as seen:
        report = import_csv(db, "denials", raw, salt=SALT)
    records = distinct + 2
    batches = -(-records // store.BATCH_ROWS)
    # One transaction per batch (the import's own commits; the probe's commits are not counted),
    # and after each of them a hook-path write from another connection went through.
    assert batches >= 3 and seen == [True] * batches
    assert (report.added, report.duplicates, report.unmapped, report.errors) == (
        distinct, 2, COPIES * seed_report.unmapped, [])
    assert _decisions(db) == (distinct, distinct, COPIES * seed_reasons)

    again = import_csv(db, "denials", raw, salt=SALT)
    assert (again.added, again.duplicates, again.unmapped) == (0, records, 0)
    assert _decisions(db) == (distinct, distinct, COPIES * seed_reasons)


def test_report_is_the_same_as_one_transaction(db, tmp_path, monkeypatch):
    raw, _ = big_file()
    batched = import_csv(db, "denials", raw, salt=SALT)
    monkeypatch.setattr(store, "BATCH_ROWS", 10**9)
    single_db = init_db(f"sqlite:///{tmp_path / 'single.db'}")
    try:
        with commits(single_db, probe=False) as seen:
            single = import_csv(single_db, "denials", raw, salt=SALT)
        assert len(seen) == 1
        assert batched.as_dict() == single.as_dict()
        assert _decisions(db) == _decisions(single_db)
    finally:
        single_db.dispose()


def test_rerun_of_an_import_that_died_half_way_adds_exactly_the_missing_rows(db, seed):
    raw, distinct = big_file()
    _, (_, _, seed_reasons) = seed
    calls = 0

    def die_in_second_batch(session) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk went away")

    event.listen(Session, "before_commit", die_in_second_batch)
    try:
        with pytest.raises(OSError):
            import_csv(db, "denials", raw, salt=SALT)
    finally:
        event.remove(Session, "before_commit", die_in_second_batch)
    committed, _, _ = _decisions(db)
    first_batch_duplicates = 1  # the repeat placed inside the first batch
    assert committed == store.BATCH_ROWS - first_batch_duplicates

    rerun = import_csv(db, "denials", raw, salt=SALT)
    assert (rerun.added, rerun.duplicates) == (distinct - committed, committed + 2)
    assert _decisions(db) == (distinct, distinct, COPIES * seed_reasons)


def test_metrics_import_commits_in_batches_and_upserts(db):
    fields = ["payer", "plan", "year", "pct_approved", "pct_denied", "pct_approved_after_appeal",
              "median_hours_standard", "median_hours_expedited", "source"]
    rows = [{"payer": f"Payer {i // 10}", "plan": f"Plan {i % 10}", "year": "2026", "pct_approved": "90",
             "pct_denied": "10", "pct_approved_after_appeal": "", "median_hours_standard": "72",
             "median_hours_expedited": "24", "source": "test"} for i in range(1200)]
    raw = _csv(fields, rows)
    with commits(db) as seen:
        report = import_csv(db, "metrics", raw, salt=SALT)
    assert len(rows) == 1200 and seen == [True] * 3
    assert (report.added, report.duplicates, report.errors) == (1200, 0, [])
    corrected = _csv(fields, [{**r, "pct_denied": "12"} for r in rows])
    again = import_csv(db, "metrics", corrected, salt=SALT)
    assert (again.added, again.duplicates) == (0, 1200)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(PayerMetric)) == 1200
        assert set(s.scalars(select(PayerMetric.pct_denied))) == {12.0}


def test_remap_writes_in_batches_and_restores_the_mapping(db, monkeypatch):
    """``painpa admin remap`` after a rules edit: every changed reason is rewritten, in batches."""
    raw, _ = big_file()
    import_csv(db, "denials", raw, salt=SALT)
    monkeypatch.setattr(store, "BATCH_ROWS", 100)  # the file maps a few hundred reasons

    def mapping() -> list[tuple]:
        with db.session() as s:
            return s.execute(select(DenialReason.id, DenialReason.requirement, DenialReason.rule)
                             .order_by(DenialReason.id)).all()

    before = mapping()
    mapped = sum(1 for _, requirement, _ in before if requirement is not None)
    assert mapped > store.BATCH_ROWS  # enough changes for more than one batch
    with commits(db) as seen:
        changed = store.remap(db, replace(default_data(), rules=()))  # every rule withdrawn
    assert changed == mapped and seen == [True] * (1 + -(-mapped // store.BATCH_ROWS))  # a read, then the batches
    assert all(requirement is None and rule is None for _, requirement, rule in mapping())
    assert store.remap(db, default_data()) == mapped
    assert mapping() == before
    assert store.remap(db, default_data()) == 0
