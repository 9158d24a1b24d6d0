"""Structured (JSON lines) logging for ``painpa serve`` (standards.md §8.9: logs must be safe to ship
to a log store: redacted at the record, one JSON object per line, no tokens, no patient ids).

:func:`configure` sets the root logger of a worker or a CLI process; :func:`gunicorn_logconfig`
gives gunicorn the same formatter for its own lines. The redacting record factory of
:mod:`.redaction` is installed by both, so a line is scrubbed before any handler sees it, and the
formatter scrubs its final output once more (exception text included).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from cds_service.security import redaction

_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime",
                                                                                 "_painpa_redacted"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra, "exc"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        redaction.scrub_record(record)
        out: dict = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info or record.exc_text:
            out["exc"] = record.exc_text or self.formatException(record.exc_info)
        return redaction.redact(json.dumps(out, default=str))


def configure(level: int = logging.INFO, stream=None) -> None:
    """Root logger → one JSON line per record on stderr (idempotent)."""
    redaction.install()
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_painpa_json", False):
            return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(redaction.RedactingFilter())
    handler._painpa_json = True
    root.addHandler(handler)
    root.setLevel(level)


def gunicorn_logconfig() -> dict:
    """``logconfig_dict`` for gunicorn: its error log in the same JSON shape; no access log (the
    access line would hold query strings, and the audit table already records each call)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cds_service.security.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }
