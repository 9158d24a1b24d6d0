"""What painpa refuses in a caller's input, said once for every layer (FHIR R4 OperationOutcome:
``issue.code`` from the IssueType value set, ``issue.expression`` naming the element).

A layer that finds a problem in what it was given raises its own subclass of :class:`Refused`
(the hook request parser, the feedback validator, the resource limits, the egress guard) with the
sentence a caller needs to fix it and the FHIR IssueType of the problem. None of them knows HTTP:
:mod:`cds_service.http_errors` turns every ``Refused`` into a status and an OperationOutcome, in
one place.
"""

from __future__ import annotations

# FHIR R4 IssueType codes painpa uses (hl7.org/fhir/R4/valueset-issue-type.html).
INVALID = "invalid"          # the content breaks a rule of the standard (unparsable, wrong shape)
PROCESSING = "processing"    # well-formed, but it cannot be processed as it stands (CRD: 422)
TOO_COSTLY = "too-costly"    # more than painpa takes in one call
INCOMPLETE = "incomplete"    # the data needed for an answer is missing (CDS Hooks: 412 for prefetch)


class Refused(Exception):
    """Input painpa refuses: ``message`` says what is wrong and how to fix it; ``expression`` names
    the element (``context.draftOrders``); ``issue`` is its FHIR IssueType."""

    issue = INVALID

    def __init__(self, message: str, expression: str | None = None, *, issue: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        if issue is not None:
            self.issue = issue
