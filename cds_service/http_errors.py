"""Error answers as FHIR OperationOutcome (CDS Hooks 3.0 ballot "SHOULD include an OperationOutcome";
CRD 2.0.1 hooks.md: 400 unparsable, 422 non-conforming; CRD 2.2 hook-9..14; standards.md §2.2).

Every HTTP error the app raises or meets is answered here, and only here: never a stack trace,
never a 500 page with internals. 401 bodies carry no detail (CDS Hooks best practices). What a
lower layer refuses (:class:`cds_service.errors.Refused`: the hook request parser, the feedback
validator, the resource limits, the egress guard) carries a FHIR IssueType; :data:`STATUS` is the
one table that turns it into an HTTP status.

A database that is busy or unreachable is a condition of the deployment, not a bug: a statement
that waited out SQLite's write lock (``PAINPA_DB_BUSY_TIMEOUT_MS``; an admin import holds it between
batches, cds_service/denials/store.py) or a PostgreSQL that refuses connections answers 503 with
``Retry-After`` and an OperationOutcome of code ``transient`` (FHIR R4 IssueType). Nothing is written to
the database on that path (no audit row: it would wait on the same lock), and the log line names the
error class and code only: the exception's text carries the statement's parameters (a jti, a hashed
patient reference). Other database errors (a missing table, a constraint) stay 500s. Each such 503
counts one ``painpa_dependency_errors_total{dependency="database"}`` (cds_service/metrics.py).

A client over its rate limit (:class:`RateLimited`) is answered 429 + ``Retry-After`` here; a hook
call's 429 was audited and counted by the view first (cds_service/hooks/views.py), and a 429 whose
audit row could not be written arrives here as that write's error instead (503 or 500, as for any
call). Every answer, errors included, carries ``X-Request-Id`` (cds_service/security/request_ids.py).
"""

from __future__ import annotations

import logging
import math

from flask import Flask, Response, jsonify
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from cds_service import errors, metrics
from cds_service.errors import Refused
from cds_service.security.ratelimit import RateLimited

log = logging.getLogger(__name__)

ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               412: "incomplete", 413: "too-costly", 415: "not-supported", 422: "processing"}
# A refusal's IssueType → HTTP status (CDS Hooks 2.0 / CRD hooks.md: 400 a request that breaks the
# standard, 422 one that is well-formed but cannot be processed, 412 prefetch without the data and
# no FHIR access, 413 more than the service takes).
STATUS = {errors.INVALID: 400, errors.PROCESSING: 422, errors.INCOMPLETE: 412, errors.TOO_COSTLY: 413}


DB_RETRY_AFTER_S = 2
DB_UNAVAILABLE = "The service's database is busy or unavailable; retry shortly"
# SQLite primary result codes of a database that cannot be used right now (sqlite.org/rescode.html):
# BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL. SQLITE_ERROR (no such table, syntax) is a bug: 500.
_SQLITE_TRANSIENT = {5, 6, 10, 13, 14, 15}
# PostgreSQL read_only_sql_transaction (an InternalError to psycopg): a server in recovery, or a
# replica after a fail-over; writes return with the primary, so the call may be retried.
_PG_READ_ONLY = "25006"


def database_unavailable(exc: BaseException) -> bool:
    """True for a database that is locked, busy or unreachable (retrying later can succeed)."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:  # SQLAlchemy saw the connection drop
        return True
    if getattr(exc.orig, "sqlstate", None) == _PG_READ_ONLY:
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_TRANSIENT
    # PostgreSQL (psycopg): OperationalError is the connection, shutdown, lock-timeout, deadlock
    # and resource family; programming errors are other classes.
    return True


def db_error_name(exc: BaseException) -> str:
    """Error class and code, never the message (it quotes the statement and its parameters)."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None) or ""
    name = type(orig).__name__ if orig is not None else type(exc).__name__
    return f"{name} {code}".strip()


def status_of(refusal: Refused) -> int:
    return STATUS.get(refusal.issue, 400)


def operation_outcome(status: int, message: str, expression: str | None = None, code: str | None = None) -> dict:
    issue: dict = {
        "severity": "error" if status < 500 else "fatal",
        "code": code or ISSUE_CODES.get(status, "exception"),
        "diagnostics": message,
    }
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def error_response(status: int, message: str, expression: str | None = None, code: str | None = None) -> Response:
    resp = jsonify(operation_outcome(status, message, expression, code))
    resp.status_code = status
    resp.mimetype = "application/fhir+json" if status != 401 else "application/json"
    return resp


def database_unavailable_response(exc: BaseException) -> Response:
    log.warning("database busy or unavailable (%s); answered 503", db_error_name(exc))
    metrics.dependency_error("database")
    resp = error_response(503, DB_UNAVAILABLE, code="transient")
    resp.headers["Retry-After"] = str(DB_RETRY_AFTER_S)
    return resp


def refusal_response(refusal: Refused) -> Response:
    return error_response(status_of(refusal), refusal.message, refusal.expression)


def unauthorized() -> Response:
    resp = jsonify(operation_outcome(401, "Unauthorized"))
    resp.status_code = 401
    resp.headers["WWW-Authenticate"] = 'Bearer realm="cds-services"'
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Refused)
    def _refused(exc: Refused):
        return refusal_response(exc)

    @app.errorhandler(RateLimited)
    def _throttled(exc: RateLimited):
        resp = error_response(429, str(exc), code="throttled")
        resp.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.code == 401:
            return unauthorized()
        messages = {
            404: "No such endpoint or CDS service",
            405: "Method not allowed on this endpoint",
            413: "Request body too large",
        }
        resp = error_response(exc.code or 500, messages.get(exc.code or 0, exc.description or exc.name))
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # The traceback goes to the server log only; the client learns nothing about internals.
        log.exception("unhandled error: %s", type(exc).__name__)
        return error_response(500, "Internal error; the incident was logged")

    @app.errorhandler(sa_exc.SQLAlchemyError)
    def _database_error(exc: sa_exc.SQLAlchemyError):
        if database_unavailable(exc):
            return database_unavailable_response(exc)
        return _unexpected(exc)
