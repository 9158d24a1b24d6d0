"""Write imported decisions and payer metrics through SQLAlchemy (SQLite or PostgreSQL), mapping each
specific reason to its policy requirement on the way in (CMS-0057-F, domain.md §3). Imports are
idempotent: a decision line already stored (same source and key) is counted, not duplicated.

Imports commit every :data:`BATCH_ROWS` records, not once at the end. On SQLite a writing
transaction holds the database's single write lock until it commits, and every hook call writes
(jti, rate counter, audit row): a 100,000-line CSV in one transaction would keep each hook call
waiting out the busy timeout and answering 503 (cds_service/http_errors.py) for as long as the
import runs. Between batches the lock is free and waiting calls go through. Each batch looks up
which of its keys are already stored (earlier batches included, as they are committed), and the run
remembers the keys it added, so duplicate detection holds across batches and across runs:
re-running a file that failed half-way adds exactly the rows the first run did not commit, and the
report counts the rest as duplicates, as one transaction would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cds_service.denials.csv_import import MetricRecord
from cds_service.denials.mapping import Reason, map_reason
from cds_service.denials.records import DecisionRecord, ImportReport, norm_key
from cds_service.denials.rules import DenialData
from cds_service.denials.tables import Decision, DenialReason, PayerMetric
from cds_service.store.base import Database

BATCH_ROWS = 500  # rows per transaction: a few tens of milliseconds of write lock on SQLite
T = TypeVar("T")


def batches(items: Sequence[T], size: int | None = None) -> Iterator[Sequence[T]]:
    size = size or BATCH_ROWS
    for i in range(0, len(items), size):
        yield items[i:i + size]


def patient_hash(ref: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}|{ref}".encode()).hexdigest() if ref else ""


def save_decisions(db: Database, records: list[DecisionRecord], data: DenialData, *, salt: str,
                   report: ImportReport | None = None) -> ImportReport:
    report = report or ImportReport()
    now = datetime.now(UTC)
    seen: set[tuple[str, str]] = set()  # keys of this run: a line repeated in the file is a duplicate
    for batch in batches(records):
        with db.session() as s:  # one transaction per batch: see the module docstring
            stored = set(s.execute(select(Decision.source, Decision.source_key)
                                   .where(Decision.source_key.in_({r.source_key for r in batch}))).all())
            for rec in batch:
                key = (rec.source, rec.source_key)
                if key in stored or key in seen:
                    report.duplicates += 1
                    continue
                seen.add(key)
                s.add(_decision_row(rec, data, salt, now, report))
                report.added += 1
    return report


def _decision_row(rec: DecisionRecord, data: DenialData, salt: str, now: datetime, report: ImportReport) -> Decision:
    row = Decision(
        source=rec.source, source_key=rec.source_key, kind=rec.kind,
        payer=norm_key(rec.payer), payer_label=rec.payer.strip(),
        plan=norm_key(rec.plan), plan_label=rec.plan.strip(), program=rec.program.strip(),
        code=rec.code, clinician=norm_key(rec.clinician), clinician_label=rec.clinician_label or rec.clinician,
        outcome=rec.outcome, appeal_outcome=rec.appeal_outcome, expedited=rec.expedited,
        submitted=rec.submitted, decided=rec.decided, decision_hours=rec.decision_hours,
        patient_hash=patient_hash(rec.patient_ref, salt), imported=now,
    )
    family = data.family_of(rec.code)
    for reason in rec.reasons:
        rule = map_reason(reason, family, data)
        if rule is None:
            report.unmapped += 1
        row.reasons.append(DenialReason(
            text=reason.text[:4000], carc=" ".join(reason.carc)[:64], rarc=" ".join(reason.rarc)[:64],
            requirement=rule.requirement if rule else None, rule=rule.id if rule else None,
        ))
    return row


def remap(db: Database, data: DenialData) -> int:
    """Re-apply the (edited) rules to every stored reason; returns how many changed. The rules run
    outside any write transaction; the changes are then written in batches (module docstring)."""
    with db.session() as s:
        stored = s.execute(select(DenialReason.id, DenialReason.text, DenialReason.carc, DenialReason.rarc,
                                  DenialReason.requirement, DenialReason.rule, Decision.code)
                           .join(Decision, DenialReason.decision_id == Decision.id)).all()
    changes = []
    for rid, text, carc, rarc, requirement, rule_id, code in stored:
        rule = map_reason(Reason(text, tuple(carc.split()), tuple(rarc.split())), data.family_of(code), data)
        new = (rule.requirement, rule.id) if rule else (None, None)
        if (requirement, rule_id) != new:
            changes.append({"id": rid, "requirement": new[0], "rule": new[1]})
    for batch in batches(changes):
        with db.session() as s:
            s.execute(update(DenialReason), list(batch))  # bulk UPDATE by primary key
    return len(changes)


def save_metrics(db: Database, records: list[MetricRecord], report: ImportReport | None = None) -> ImportReport:
    """Upsert by (payer, plan, year): a corrected report replaces the earlier one."""
    report = report or ImportReport()
    now = datetime.now(UTC)
    for batch in batches(records):
        with db.session() as s:  # one transaction per batch: see the module docstring
            for rec in batch:
                _save_metric(s, rec, now, report)
    return report


def _save_metric(s: Session, rec: MetricRecord, now: datetime, report: ImportReport) -> None:
    # A select per row (autoflush sees rows added earlier in the batch): metric files are a few lines.
    row = s.scalars(select(PayerMetric).where(
        PayerMetric.payer == norm_key(rec.payer), PayerMetric.plan == norm_key(rec.plan),
        PayerMetric.year == rec.year)).first()
    if row is None:
        row = PayerMetric(payer=norm_key(rec.payer), plan=norm_key(rec.plan), year=rec.year)
        s.add(row)
        report.added += 1
    else:
        report.duplicates += 1
    row.payer_label, row.plan_label = rec.payer.strip(), rec.plan.strip()
    row.pct_approved, row.pct_denied = rec.pct_approved, rec.pct_denied
    row.pct_approved_after_appeal = rec.pct_approved_after_appeal
    row.median_hours_standard, row.median_hours_expedited = rec.median_hours_standard, rec.median_hours_expedited
    row.source, row.imported = rec.source, now
