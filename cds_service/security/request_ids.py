"""One id per HTTP request: taken from the caller's ``X-Request-Id`` when it is sane, made otherwise,
answered as ``X-Request-Id`` on every response, written on every log line of the request
(cds_service/security/logs.py) and stored in its audit row (``cds_audit.request_id``).

``X-Request-Id`` has no RFC; it is the de facto header for one request's id (Heroku's router,
nginx ``$request_id``, Envoy and most load balancers set or pass it on). W3C Trace Context
(``traceparent``) is the standard for distributed traces and is not required here: painpa joins no
trace, it only needs one string that an EHR's support ticket, a log search and an audit row share.

A caller's id is kept only when it is 1–128 characters of ``A-Z a-z 0-9 . _ : = + -`` (a uuid, a
ULID, an nginx or load-balancer id all fit; the audit column is 128 wide) and the log redaction
would leave it unchanged (cds_service/security/redaction.py: a JWT-shaped or registered secret
value is masked in logs, so kept as an id it would be stored in clear in the audit row). Anything
else (newlines, control characters, quotes, 10 kB) is replaced by a fresh ``uuid4().hex``, never
truncated or escaped: an id in the logs is either exactly the caller's or one it never sent.

For the duration of a request the id and, once the views know them, the client's verified ``iss``
and the call's ``hookInstance`` (:func:`annotate`) are bound to the request's log context
(:func:`cds_service.security.logs.begin_context`): every line the request writes carries them.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, request

from cds_service.security import logs, redaction

HEADER = "X-Request-Id"
MAX_LENGTH = 128
_SANE = re.compile(rf"[A-Za-z0-9._:=+-]{{1,{MAX_LENGTH}}}")
# Names as they appear in a JSON log line: the id, the verified client, the CDS Hooks field name.
ID, ISS, HOOK_INSTANCE = "request_id", "iss", "hookInstance"


def accept(raw: str | None) -> str:
    """``raw`` when it is a sane id (see the module docstring), else a new ``uuid4().hex``."""
    if raw and _SANE.fullmatch(raw) and redaction.redact(raw) == raw:
        return raw
    return uuid.uuid4().hex


def current() -> str | None:
    """This request's id; None outside a request (a CLI command, a worker's start-up)."""
    return logs.context_fields().get(ID)


def annotate(*, iss: str | None = None, hook_instance: str | None = None) -> None:
    """Name the verified client and the hook call on every later log line of this request."""
    logs.add_to_context(**{k: v for k, v in ((ISS, iss), (HOOK_INSTANCE, hook_instance)) if v})


def _begin() -> None:
    logs.begin_context(**{ID: accept(request.headers.get(HEADER))})


def _answer(resp: Response) -> Response:
    # current() is None when the request failed before the before_request hooks ran (opening the
    # session): that answer gets an id too.
    resp.headers[HEADER] = current() or accept(None)
    return resp


def _end(_exc: BaseException | None) -> None:
    logs.end_context()


def install(app: Flask) -> None:
    """App-level hooks, so every blueprint's answers (hooks, feedback, SMART, admin, health, metrics,
    error pages) carry the header. Call it before anything else registers a ``before_request``."""
    app.before_request(_begin)
    app.after_request(_answer)
    app.teardown_request(_end)
