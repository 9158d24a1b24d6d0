"""Error answers as FHIR OperationOutcome (CDS Hooks 3.0 ballot "SHOULD include an OperationOutcome";
CRD 2.0.1 hooks.md: 400 unparsable, 422 non-conforming; CRD 2.2 hook-9..14; standards.md §2.2).

Every HTTP error the app raises or meets is answered here: never a stack trace, never a 500 page
with internals. 401 bodies carry no detail (CDS Hooks best practices).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               412: "incomplete", 413: "too-costly", 415: "not-supported", 422: "processing"}


class HookError(Exception):
    """A request the service refuses, with the status and the sentence that names the problem."""

    def __init__(self, status: int, message: str, expression: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.expression = expression


def operation_outcome(status: int, message: str, expression: str | None = None) -> dict:
    issue: dict = {
        "severity": "error" if status < 500 else "fatal",
        "code": ISSUE_CODES.get(status, "exception"),
        "diagnostics": message,
    }
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def error_response(status: int, message: str, expression: str | None = None) -> Response:
    resp = jsonify(operation_outcome(status, message, expression))
    resp.status_code = status
    resp.mimetype = "application/fhir+json" if status != 401 else "application/json"
    return resp


def unauthorized() -> Response:
    resp = jsonify(operation_outcome(401, "Unauthorized"))
    resp.status_code = 401
    resp.headers["WWW-Authenticate"] = 'Bearer realm="cds-services"'
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HookError)
    def _hook_error(exc: HookError):
        return error_response(exc.status, exc.message, exc.expression)

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
