"""Write imported decisions and payer metrics through SQLAlchemy (SQLite or PostgreSQL), mapping each
specific reason to its policy requirement on the way in (CMS-0057-F, domain.md §3). Imports are
idempotent: a decision line already stored (same source and key) is counted, not duplicated.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select

from cds_service.insights.csv_import import MetricRecord
from cds_service.insights.mapping import Reason, map_reason
from cds_service.insights.records import DecisionRecord, ImportReport, norm_key
from cds_service.insights.rules import DenialData
from cds_service.insights.tables import Decision, DenialReason, PayerMetric
from cds_service.store.base import Database


def patient_hash(ref: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}|{ref}".encode()).hexdigest() if ref else ""


def save_decisions(db: Database, records: list[DecisionRecord], data: DenialData, *, salt: str,
                   report: ImportReport | None = None) -> ImportReport:
    report = report or ImportReport()
    now = datetime.now(UTC)
    with db.session() as s:
        existing = set()
        keys = [r.source_key for r in records]
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            existing.update(s.execute(select(Decision.source, Decision.source_key)
                                      .where(Decision.source_key.in_(chunk))).all())
        for rec in records:
            if (rec.source, rec.source_key) in existing:
                report.duplicates += 1
                continue
            existing.add((rec.source, rec.source_key))
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
            s.add(row)
            report.added += 1
    return report


def remap(db: Database, data: DenialData) -> int:
    """Re-apply the (edited) rules to every stored reason; returns how many changed."""
    changed = 0
    with db.session() as s:
        for reason in s.scalars(select(DenialReason)):
            rule = map_reason(Reason(reason.text, tuple(reason.carc.split()), tuple(reason.rarc.split())),
                              data.family_of(reason.decision.code), data)
            new = (rule.requirement, rule.id) if rule else (None, None)
            if (reason.requirement, reason.rule) != new:
                reason.requirement, reason.rule = new
                changed += 1
    return changed


def save_metrics(db: Database, records: list[MetricRecord], report: ImportReport | None = None) -> ImportReport:
    """Upsert by (payer, plan, year): a corrected report replaces the earlier one."""
    report = report or ImportReport()
    now = datetime.now(UTC)
    with db.session() as s:
        for rec in records:
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
    return report
