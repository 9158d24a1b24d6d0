"""Feedback (CDS Hooks 2.0 §Feedback; cds-fb-1..3): CC-51, CC-52."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from cds_service import state
from cds_service.store.tables import Feedback
from tests.support.hook_requests import EXTERNAL, SELECT, SIGN


def _count(app) -> int:
    with state.of(app).db.session() as s:
        return s.scalar(select(func.count()).select_from(Feedback))


def item(**kw) -> dict:
    return {"card": "9f0a7e6c-5d4b-4a3c-8b2a-1c0d9e8f7a6b", "outcome": "overridden",
            "outcomeTimestamp": "2026-11-20T15:04:05Z", **kw}


def test_cc51_valid_accepted_and_overridden_are_stored(app, caller):
    accepted = item(outcome="accepted", acceptedSuggestions=[{"id": "s-1"}])
    overridden = item(card="c-2", overrideReason={"reason": {"system": "urn:x", "code": "urgent",
                                                             "display": "Urgent"}, "userComment": "now"})
    assert caller.feedback(SIGN, {"feedback": [accepted, overridden]}).status_code == 200
    assert _count(app) == 2
    with state.of(app).db.session() as s:
        row = s.scalar(select(Feedback).where(Feedback.card == "c-2"))
        assert (row.override_code, row.user_comment, row.iss) == ("urgent", "now", "https://ehr.example.org/cds-client")


@pytest.mark.parametrize("bad", [
    item(outcome="ignored"),
    item(outcome="accepted"),
    item(overrideReason={}),
    item(outcomeTimestamp="yesterday"),
    item(card=""),
    {"outcome": "overridden", "outcomeTimestamp": "2026-11-20T15:04:05Z"},
])
def test_cc51_invalid_items_are_400_with_operation_outcome(app, caller, bad):
    resp = caller.feedback(SIGN, {"feedback": [bad]})
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert _count(app) == 0


def test_cc51_sandbox_reason_without_display_is_accepted(caller):
    reason = {"reason": {"code": "not-relevant"}}
    assert caller.feedback(SELECT, {"feedback": [item(overrideReason=reason)]}).status_code == 200


def test_cc51_spec_examples_accepted(caller):
    for name in ("index__feedback-overridden-with-reason.json", "index__feedback-overridden-without-reason.json",
                 "index__feedback-suggestion-accepted.json"):
        body = json.loads((EXTERNAL / "HL7__cds-hooks" / name).read_text())
        assert caller.feedback(SIGN, body).status_code == 200, name


def test_cc52_unknown_card_and_duplicates_are_idempotent(app, caller):
    body = {"feedback": [item(card="never-issued")]}
    assert caller.feedback(SIGN, body).status_code == 200
    assert caller.feedback(SIGN, body).status_code == 200
    assert _count(app) == 1


def test_feedback_for_unknown_service_is_404(caller):
    assert caller.feedback("no-such-service", {"feedback": [item()]}).status_code == 404


def test_feedback_unparsable_json_is_400(caller):
    assert caller.feedback(SIGN, b"{not json").status_code == 400


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59"])
def test_cc51_timestamp_outside_the_utc_range_is_400(caller, stamp):
    # Valid RFC 3339, but the UTC instant falls outside year 1..9999: converting it raised OverflowError.
    resp = caller.feedback(SIGN, {"feedback": [item(outcomeTimestamp=stamp)]})
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["feedback[0].outcomeTimestamp"]


def test_feedback_item_count_is_bounded(app, caller):
    from cds_service.security.limits import MAX_FEEDBACK_ITEMS

    over = caller.feedback(SIGN, {"feedback": [item(card=f"c-{i}") for i in range(MAX_FEEDBACK_ITEMS + 1)]})
    assert over.status_code == 400 and over.get_json()["issue"][0]["expression"] == ["feedback"]
    assert _count(app) == 0
    full = caller.feedback(SIGN, {"feedback": [item(card=f"c-{i}") for i in range(MAX_FEEDBACK_ITEMS)]})
    assert full.status_code == 200 and _count(app) == MAX_FEEDBACK_ITEMS
