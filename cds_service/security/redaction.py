"""Redaction of secrets and patient identifiers from every log line (CDS Hooks 2.0 best practices:
"never store, share or log JWTs or access tokens"; standards.md §8.1, §8.9; check CC-30).

Installed once per process as a ``LogRecord`` factory, so it covers every logger (the app's,
werkzeug's, gunicorn's, libraries') before any handler or formatter sees the record: the message
is formatted, scrubbed and frozen (``args`` cleared), and an exception's text is scrubbed too.
What is scrubbed:

* bearer credentials and JWT-shaped strings (three base64url segments, the first a JSON header);
* ``access_token`` / ``id_token`` / ``refresh_token`` / ``code`` / ``state`` / ``launch`` values in
  JSON or query strings, and ``appContext`` handles (``{"ctx": "…"}``, ``ctx=…``);
* patient identifiers: ``Patient/<id>``, ``patient=…``, ``subject=…``, ``beneficiary=…``,
  ``"patientId": "…"``;
* the row values a database error quotes (PostgreSQL ``DETAIL:`` and ``Failing row contains``).
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "[redacted]"
_KEYS = r"access_token|id_token|refresh_token|client_assertion|code|state|launch|ctx|appContext|patientId|patient|" \
        r"subject|beneficiary|token|jti|password"
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JWT / JWS compact serialisation: base64url('{"') starts every JOSE header.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "[jwt]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    # "key": "value" in JSON (also repr of dicts with single quotes).
    (re.compile(r"""(?i)(["'](?:""" + _KEYS + r""")["']\s*:\s*)(["'])(?:\\.|(?!\2).)*\2"""), r"\1\2" + MASK + r"\2"),
    # key=value in query strings and form bodies.
    (re.compile(r"(?i)([?&;\s](?:" + _KEYS + r")=)[^&;\s\"']+"), r"\1" + MASK),
    (re.compile(r"(Patient/)[A-Za-z0-9\-.]{1,64}"), r"\1" + MASK),
    # appContext as an escaped JSON string inside JSON: {\"ctx\":\"…\"}
    (re.compile(r'(\\"ctx\\"\s*:\s*\\")[^\\"]+'), r"\1" + MASK),
    # A database error's own text quotes row values: PostgreSQL's "DETAIL:  Key (iss, jti)=(…)" and
    # "Failing row contains (…)" (statement parameters are kept out by hide_parameters, store/base.py).
    (re.compile(r"(DETAIL:\s+).*"), r"\1" + MASK),
    (re.compile(r"(Failing row contains ).*"), r"\1" + MASK),
)
_extra: set[str] = set()
_extra_lock = threading.Lock()


def redact(text: str) -> str:
    """``text`` with every known secret shape and every registered value masked."""
    for pattern, repl in PATTERNS:
        text = pattern.sub(repl, text)
    with _extra_lock:
        values = sorted(_extra, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def forget_values(*values: str | None) -> None:
    """Register literal values (e.g. a configured secret) to mask wherever they appear."""
    with _extra_lock:
        _extra.update(v for v in values if v and len(v) >= 6)


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    if getattr(record, "_painpa_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string must not lose the line
        message = f"{record.msg!r} % {record.args!r}"
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._painpa_redacted = True
    return record


class RedactingFilter(logging.Filter):
    """The same scrubbing as a handler filter, for handlers configured outside the factory."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


_installed = False


def install() -> None:
    """Wrap the process's LogRecord factory once; idempotent."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        return scrub_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True
