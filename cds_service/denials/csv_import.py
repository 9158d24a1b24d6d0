"""Parse the two CSV files the dashboard imports (pure: text in, records out, every bad line named):

* a practice's denials (payer, plan, code, date, reason text, X12 CARC/RARC codes; CMS-0057-F
  specific denial reasons, domain.md §3), one decision line per row;
* a payer's public prior-authorization metrics (CMS-0057-F public reporting, domain.md §3: %
  approved, % denied, % approved after appeal, median decision time standard / expedited).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime

from cds_service.denials.mapping import Reason, split_codes
from cds_service.denials.records import DecisionRecord, outcome_word

MAX_ROWS = 100_000

DENIAL_COLUMNS = ("payer", "code", "date")
DENIAL_OPTIONAL = ("plan", "outcome", "reason_text", "carc", "rarc", "clinician", "clinician_name",
                   "program", "submitted", "expedited", "appeal_outcome", "kind", "id", "patient")
METRIC_COLUMNS = ("payer", "year")
METRIC_OPTIONAL = ("plan", "pct_approved", "pct_denied", "pct_approved_after_appeal",
                   "median_hours_standard", "median_days_standard", "median_hours_expedited",
                   "median_days_expedited", "source")


class CsvError(ValueError):
    """The file as a whole cannot be read (no header, missing required column)."""


@dataclass(frozen=True)
class MetricRecord:
    payer: str
    year: int
    plan: str = ""
    pct_approved: float | None = None
    pct_denied: float | None = None
    pct_approved_after_appeal: float | None = None
    median_hours_standard: float | None = None
    median_hours_expedited: float | None = None
    source: str = ""


def parse_date(raw: str) -> date:
    raw = raw.strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"):
        try:
            return datetime.strptime(raw[:10] if fmt == "%Y-%m-%d" else raw, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date {raw!r} is not YYYY-MM-DD or MM/DD/YYYY")


def _parse_datetime(raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return datetime.combine(parse_date(raw), datetime.min.time())


def _rows(text: str, required: tuple[str, ...], optional: tuple[str, ...]):
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise CsvError("the file is empty or has no header line")
    header = [(h or "").strip().lower().replace(" ", "_") for h in reader.fieldnames]
    missing = [c for c in required if c not in header]
    if missing:
        raise CsvError(f"missing column(s) {', '.join(missing)}; expected {', '.join(required + optional)}")
    for lineno, row in enumerate(reader, start=2):
        if lineno > MAX_ROWS + 1:
            raise CsvError(f"more than {MAX_ROWS} rows; split the file")
        clean = {(k or "").strip().lower().replace(" ", "_"): (v or "").strip() if isinstance(v, str) else ""
                 for k, v in row.items()}
        if any(clean.values()):
            yield lineno, clean


def parse_denials(text: str) -> tuple[list[DecisionRecord], list[str]]:
    records, errors = [], []
    for lineno, row in _rows(text, DENIAL_COLUMNS, DENIAL_OPTIONAL):
        try:
            if not row["payer"] or not row["code"]:
                raise ValueError("payer and code are required")
            outcome = outcome_word(row.get("outcome") or "denied")
            if outcome is None:
                raise ValueError(f"outcome {row.get('outcome')!r} is not one of affirmed/denied/partial/pended")
            appeal = outcome_word(row.get("appeal_outcome")) if row.get("appeal_outcome") else ""
            if appeal not in ("", "affirmed", "denied"):
                raise ValueError(f"appeal_outcome {row.get('appeal_outcome')!r} must be approved or denied")
            kind = (row.get("kind") or "claim").lower()
            if kind in ("pa", "prior-authorization", "preauthorization", "prior_auth"):
                kind = "prior-auth"
            if kind not in ("claim", "prior-auth"):
                raise ValueError(f"kind {row.get('kind')!r} must be claim or prior-auth")
            decided = parse_date(row["date"])
            submitted = _parse_datetime(row.get("submitted", ""))
            hours = None
            if submitted is not None:
                # The decision date has no time of day: count whole days between the two dates.
                hours = (decided - submitted.date()).days * 24.0
                if hours < 0:
                    raise ValueError("submitted is after the decision date")
            reason = Reason(row.get("reason_text", ""), split_codes(row.get("carc", "")), split_codes(row.get("rarc", "")))
            key = row.get("id") or hashlib.sha256(
                "|".join(row.get(c, "") for c in DENIAL_COLUMNS + DENIAL_OPTIONAL).encode()).hexdigest()
            records.append(DecisionRecord(
                source="csv", source_key=key, kind=kind, payer=row["payer"], plan=row.get("plan", ""),
                program=row.get("program", ""), code=row["code"].upper(), outcome=outcome, decided=decided,
                clinician=row.get("clinician", ""), clinician_label=row.get("clinician_name", ""),
                appeal_outcome=appeal or "", expedited=row.get("expedited", "").lower() in ("1", "y", "yes", "true"),
                submitted=submitted, decision_hours=hours, patient_ref=row.get("patient", ""),
                reasons=(reason,) if (reason.text or reason.carc or reason.rarc) else (),
            ))
        except ValueError as exc:
            errors.append(f"line {lineno}: {exc}")
    return records, errors


def _pct(raw: str, name: str) -> float | None:
    raw = raw.strip().rstrip("%").strip()
    if not raw:
        return None
    value = float(raw)
    if not 0 <= value <= 100:
        raise ValueError(f"{name} {raw!r} is not a percentage between 0 and 100")
    return value


def _hours(row: dict, base: str) -> float | None:
    if row.get(f"median_hours_{base}"):
        return float(row[f"median_hours_{base}"])
    if row.get(f"median_days_{base}"):
        return float(row[f"median_days_{base}"]) * 24
    return None


def parse_metrics(text: str) -> tuple[list[MetricRecord], list[str]]:
    records, errors = [], []
    for lineno, row in _rows(text, METRIC_COLUMNS, METRIC_OPTIONAL):
        try:
            year = int(row["year"])
            if not 2020 <= year <= 2100:
                raise ValueError(f"year {year} is out of range")
            records.append(MetricRecord(
                payer=row["payer"], year=year, plan=row.get("plan", ""),
                pct_approved=_pct(row.get("pct_approved", ""), "pct_approved"),
                pct_denied=_pct(row.get("pct_denied", ""), "pct_denied"),
                pct_approved_after_appeal=_pct(row.get("pct_approved_after_appeal", ""), "pct_approved_after_appeal"),
                median_hours_standard=_hours(row, "standard"), median_hours_expedited=_hours(row, "expedited"),
                source=row.get("source", ""),
            ))
        except ValueError as exc:
            errors.append(f"line {lineno}: {exc}")
    return records, errors
