"""The coordinator queue's launch and its row wording (smart_app/context.py, smart_app/queue.py), and
the stored launch context keeping a redeemed card handle spent."""

from __future__ import annotations

import json
from datetime import date

from cds_service.policy.model import (
    Citation,
    Determination,
    PAState,
    PriorAuthStatus,
    Program,
    ProgramKind,
    RequirementResult,
    Status,
)
from smart_app import context as ctx
from smart_app import queue

TODAY = date(2026, 12, 7)


def test_queue_launch_asks_user_level_scopes_without_a_patient():
    scope = ctx.scopes("v2", ehr_launch=False, practitioner=True)
    items = scope.split()
    assert "launch" not in items and "launch/patient" not in items
    assert "user/*.rs" in items and "user/Observation.cu" in items and not any(i.startswith("patient/") for i in items)
    assert ctx.is_practitioner_scope(scope)
    assert not ctx.is_practitioner_scope(ctx.scopes("v2", ehr_launch=True))
    assert not ctx.is_practitioner_scope(ctx.scopes("v2", ehr_launch=False))   # standalone, patient picker
    assert "user/*.read" in ctx.scopes("v1", ehr_launch=False, practitioner=True)


def test_a_redeemed_handle_stays_spent_when_the_context_is_read_back():
    launched = ctx.parse({"patient": "p1", "appContext": json.dumps({"ctx": "handle-123456"})})
    assert launched.handle == "handle-123456"
    stored = {**launched.as_dict(), "handle": None}        # what save_card writes once redeemed
    assert ctx.LaunchContext.from_dict(stored).handle is None
    assert ctx.LaunchContext.from_dict(launched.as_dict()).handle == "handle-123456"


def _det(state: PAState, *reqs: RequirementResult, pa_needed: str = "auth-needed", **pa) -> Determination:
    return Determination(order_ref="ServiceRequest/o1", codes=("64483",), family="esi",
                         program=Program(ProgramKind.WISER, "wiser", "CMS WISeR prior authorization (TX)"),
                         covered="conditional", pa_needed=pa_needed, prior_auth=PriorAuthStatus(state, **pa),
                         requirements=reqs, service_date=date(2026, 12, 20))


def _req(rid: str, status: Status, kind: str = "clinical") -> RequirementResult:
    return RequirementResult(rid, f"Title {rid}", status, "", "", Citation("x"), kind=kind)


def test_queue_row_needs_in_words_most_urgent_first():
    assert queue.needs(_det(PAState.SATISFIED, _req("a", Status.MET), pa_needed="satisfied"), TODAY) == []
    needs = queue.needs(_det(PAState.NEEDED, _req("a", Status.UNMET), _req("b", Status.UNKNOWN),
                             _req("c", Status.UNMET, kind="audit")), TODAY)
    assert needs == [("pa-needed", "Prior authorization needed, not requested"),
                     ("documentation", "Documentation missing: Title a"),
                     ("unknown", "Cannot tell from the chart: Title b")]
    ends = queue.needs(_det(PAState.EXPIRED, utn="15A2", expires=date(2026, 12, 15)), TODAY)
    assert ends == [("utn-ends", "UTN 15A2 ends 15 Dec 2026, before the date of service: request again")]
    assert queue.needs(_det(PAState.NON_AFFIRMED, _req("a", Status.UNMET), utn="J3"), TODAY)[0] == (
        "non-affirmed", "Not affirmed by the payer (UTN J3)")
    assert queue.needs(_det(PAState.PARTIAL, missing_codes=("64484",)), TODAY) == [
        ("pa-partial", "Decision on file misses 64484")]
