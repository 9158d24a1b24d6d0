"""Structured (JSON lines) logging for ``painpa serve`` (standards.md §8.9: logs must be safe to ship
to a log store: redacted at the record, one JSON object per line, no tokens, no patient ids).

:func:`configure` sets the root logger of a worker or a CLI process; :func:`gunicorn_logconfig`
gives gunicorn the same formatter for its own lines. The redacting record factory of
:mod:`.redaction` is installed by both, so a line is scrubbed before any handler sees it, and the
formatter scrubs its final output once more (exception text included).

Every line written while a request is answered also carries the fields bound to it
(:func:`begin_context`, by :mod:`.request_ids`): its id and, once known, the client's verified
``iss`` and the call's ``hookInstance``, so that one search finds every line of a call; the final
scrub covers them too. A record's own ``extra`` wins over them (the "JWT refused" line names the
``iss`` the token claimed, marked unverified). The fields live in a
:class:`~contextvars.ContextVar`: gunicorn's ``gthread`` worker answers a request on one thread and
the formatter runs on the thread that logs, so a line from a thread the request did not run on
carries none. This module imports no web framework: the CLI configures
logging without loading Flask.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from cds_service.security import redaction

_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime",
                                                                                 "_painpa_redacted"}
_fields: ContextVar[dict[str, str] | None] = ContextVar("painpa_log_fields", default=None)


def begin_context(**fields: str) -> None:
    """Every line written from now on in this context (a request's thread) carries ``fields``."""
    _fields.set(dict(fields))


def add_to_context(**fields: str) -> None:
    """Add ``fields`` to the open context; outside one (a CLI command, start-up) nothing happens."""
    bound = _fields.get()
    if bound is not None:
        bound.update(fields)


def context_fields() -> dict[str, str]:
    """What a line written now, on this thread, carries: {} outside a context."""
    return dict(_fields.get() or {})


def end_context() -> None:
    # gthread reuses its threads: the next request on this one must not inherit these fields.
    _fields.set(None)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "pid", "request_id", "iss", "hookInstance", ...extra, "exc"}``
    on one line (the request's fields only inside a request, ``iss`` and ``hookInstance`` once known)."""

    def format(self, record: logging.LogRecord) -> str:
        redaction.scrub_record(record)
        out: dict = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        out.update(context_fields())   # formatted on the logging thread: that request's fields
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
