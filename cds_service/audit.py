"""Invocation audit log (CRD 2.2 found-37 "keep logs of all CRD invocations"; CRD security.md "SHALL
NOT retain ... except for audit"; standards.md §8.9–8.10).

One row per hook call, refusals included (401, 429): hookInstance, service, hook, a salted
SHA-256 of the patient reference, order codes, a determination summary, card uuids, latency, HTTP
status, the FHIR reads the call made (none when its prefetch was honoured, cds_service/fhir/reads.py)
and the request id that the call's log lines carry (``X-Request-Id``, cds_service/security/request_ids.py). Never a token, a JWT or a patient id in clear. Rows older
than ``audit_retention_days`` are purged by ``painpa audit purge`` (run it from cron).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select

from cds_service.config import ConfigError, Settings
from cds_service.retention import purge_transient
from cds_service.store import init_db
from cds_service.store.base import Database
from cds_service.store.tables import AuditEvent

_INSERT = insert(AuditEvent.__table__)  # built once: it runs on every hook call


def patient_hash(salt: str, fhir_server: str | None, patient_id: str | None) -> str | None:
    if not patient_id:
        return None
    material = f"{salt}|{fhir_server or ''}|Patient/{patient_id}"
    return hashlib.sha256(material.encode()).hexdigest()


def order_codes(orders: Iterable[dict]) -> list[str]:
    codes: list[str] = []
    for order in orders:
        concept = order.get("code") or (order.get("medicationCodeableConcept") or {})
        codings = concept.get("coding") if isinstance(concept, dict) else None
        for coding in codings if isinstance(codings, list) else ():   # the caller's JSON, any shape
            if isinstance(coding, dict) and coding.get("code"):
                codes.append(f"{coding.get('system', '')}|{coding['code']}")
    return codes


def summarize(determinations: Sequence) -> list[dict]:
    out = []
    for det in determinations:
        out.append({
            "order": det.order_ref,
            "program": det.program.id,
            "covered": det.covered,
            "paNeeded": det.pa_needed,
            "docNeeded": det.doc_needed,
            "unmet": [r.id for r in det.unmet],
        })
    return out


def record(
    db: Database,
    *,
    service_id: str,
    hook: str | None,
    hook_instance: str | None,
    iss: str | None,
    patient_ref_hash: str | None,
    orders: Iterable[dict] = (),
    determinations: Sequence = (),
    response: dict | None = None,
    latency_ms: int,
    status: int,
    incomplete: Iterable[str] = (),
    request_id: str | None = None,
    fhir_reads: int | None = None,
) -> None:
    """Write the audit row. A failure propagates: a call whose row cannot be written is answered 503
    by the HTTP layer (cds_service/http_errors.py), never 200 without its row (docs/security.md §2.7)."""
    cards = (response or {}).get("cards") or []
    row = dict(
        at=datetime.now(UTC),
        hook_instance=hook_instance,
        service_id=service_id,
        hook=hook,
        iss=iss,
        patient_hash=patient_ref_hash,
        order_codes=order_codes(orders),
        determinations=summarize(determinations),
        card_uuids=[c.get("uuid") for c in cards if isinstance(c, dict) and c.get("uuid")],
        latency_ms=latency_ms,
        status=status,
        incomplete=sorted(incomplete),
        request_id=request_id,
        fhir_reads=fhir_reads,
    )
    # Core insert (Database.begin): one row per hook call, no ORM object needed.
    with db.begin() as conn:
        conn.execute(_INSERT, row)


def purge(db: Database, retention_days: int, now: datetime | None = None) -> int:
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    with db.session() as s:
        return s.execute(delete(AuditEvent).where(AuditEvent.at < cutoff)).rowcount or 0


# Under this retention ``painpa audit purge`` wants --force: a slip such as ``--days 0``, or ``--days 6``
# meant as years, would otherwise delete the audit trail at once. HIPAA (45 CFR 164.316(b)(2)) keeps
# documentation six years, the default PAINPA_AUDIT_RETENTION_DAYS of 2190 days.
MIN_RETENTION_DAYS = 30


def purge_cli(args: argparse.Namespace) -> int:
    """``painpa audit purge``: audit rows past retention, then every transient record (handles, jtis,
    rate windows). A retention under :data:`MIN_RETENTION_DAYS` is refused without ``--force``, with
    the number of rows it would delete."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"painpa audit purge: {exc}", file=sys.stderr)
        return 2
    days = args.days if args.days is not None else settings.audit_retention_days
    if days < 0:
        print(f"painpa audit purge: --days {days} is negative; give the days of audit log to keep", file=sys.stderr)
        return 2
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        db = init_db(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    except ConfigError as exc:  # a database schema that is not this release's, say: `painpa db upgrade`
        print(f"painpa audit purge: {exc}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)   # one cutoff for the count below and for the delete
    if days < MIN_RETENTION_DAYS and not args.force:
        cutoff = now - timedelta(days=days)
        with db.session() as s:
            older = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.at < cutoff)) or 0
            total = s.scalar(select(func.count()).select_from(AuditEvent)) or 0
        source = f"--days {days}" if args.days is not None else f"PAINPA_AUDIT_RETENTION_DAYS={days}"
        again = "painpa audit purge" + (f" --days {days}" if args.days is not None else "") + " --force"
        print(f"painpa audit purge: refused: {source} is under the {MIN_RETENTION_DAYS}-day minimum and would "
              f"delete {older} of {total} audit rows (every row before {cutoff:%Y-%m-%d %H:%M} UTC). "
              f"The default keeps {Settings.audit_retention_days} days (six years, HIPAA). "
              f"Nothing was deleted; to delete them, run: {again}", file=sys.stderr)
        return 2
    removed = purge(db, days, now)
    print(f"removed {removed} audit rows older than {days} days")
    print("removed transient records: " + ", ".join(f"{n} {k}" for k, n in purge_transient(db).items()))
    return 0
