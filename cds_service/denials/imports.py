"""Import orchestration shared by the ``painpa admin`` command and the dashboard: CSV bytes or a
registered FHIR server in, stored decisions and metrics out, with one report (CMS-0057-F specific
denial reasons and public metrics, domain.md §3; PAS ClaimResponse, standards.md §4.2).

A FHIR server is read only when an operator registered it (``painpa clients add --fhir-base``):
the dashboard never fetches a URL typed into a form.
"""

from __future__ import annotations

from datetime import date

from cds_service.clients import list_clients
from cds_service.clock import today_utc
from cds_service.config import Settings
from cds_service.denials import csv_import, pas_import
from cds_service.denials.programs import program_resolver
from cds_service.denials.records import ImportReport
from cds_service.denials.rules import default_data
from cds_service.denials.store import save_decisions, save_metrics
from cds_service.policy.loader import PolicySet
from cds_service.store.base import Database

MAX_BYTES = 20 * 1024 * 1024


class ImportFailed(ValueError):
    """The import could not start or the file is unreadable; the message says why."""


def registered_bases(db: Database) -> list[str]:
    return sorted({base for client in list_clients(db) for base in client.fhir_bases})


def _text(raw: bytes) -> str:
    if len(raw) > MAX_BYTES:
        raise ImportFailed(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFailed("the file is not UTF-8 text; save it as CSV UTF-8") from None


def import_csv(db: Database, kind: str, raw: bytes, *, salt: str) -> ImportReport:
    text = _text(raw)
    try:
        if kind == "denials":
            records, errors = csv_import.parse_denials(text)
            report = ImportReport(errors=errors)
            return save_decisions(db, records, default_data(), salt=salt, report=report)
        if kind == "metrics":
            metrics, errors = csv_import.parse_metrics(text)
            return save_metrics(db, metrics, ImportReport(errors=errors))
    except csv_import.CsvError as exc:
        raise ImportFailed(str(exc)) from None
    raise ImportFailed(f"unknown CSV kind {kind!r}; use denials or metrics")


def import_pas(db: Database, base: str, *, salt: str, settings: Settings, policies: PolicySet,
               token: str | None = None, since: str | None = None, session=None,
               today: date | None = None) -> ImportReport:
    if base.rstrip("/") not in {b.rstrip("/") for b in registered_bases(db)}:
        raise ImportFailed(f"{base} is not a registered FHIR base; register it with painpa clients add --fhir-base")
    try:
        resources = pas_import.fetch_resources(base, token=token, since=since, session=session,
                                               timeout=settings.fhir_read_timeout_s * 4)
    except pas_import.FetchError as exc:
        raise ImportFailed(str(exc)) from None
    program_of = program_resolver(policies, today or today_utc())
    records, errors = pas_import.decisions_from_resources(resources, base.rstrip("/"), program_of)
    return save_decisions(db, records, default_data(), salt=salt, report=ImportReport(errors=errors))
