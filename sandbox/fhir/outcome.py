"""OperationOutcome errors (FHIR R4 RESTful API §3.1.0.4 "Handling errors"; OperationOutcome §2.37).

Every failure the server reports is a ``FhirError``: an HTTP status plus one or more issues. Views
raise it; one error handler turns it into the JSON body, so no path answers 500 with a stack trace.
"""

from __future__ import annotations

from flask import Response, json

FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    def __init__(self, status: int, diagnostics: str, code: str = "invalid", *, issues: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.issues = issues or [issue(code, diagnostics)]
        self.headers = headers or {}


def issue(code: str, diagnostics: str, *, severity: str = "error", expression: str | None = None) -> dict:
    out = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        out["expression"] = [expression]
    return out


def outcome(issues: list[dict]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": issues}


def fhir_response(body: dict | None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = "" if body is None else json.dumps(body)
    return Response(payload, status=status, headers=headers or {}, mimetype=FHIR_JSON)


def error_response(err: FhirError) -> Response:
    return fhir_response(outcome(err.issues), err.status, err.headers)
