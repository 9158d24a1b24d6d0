"""Feedback endpoint logic (CDS Hooks 2.0 §Feedback; cds-fb-1..3; checks CC-51, CC-52).

Each item is validated (outcome enum, acceptedSuggestions when accepted, an overrideReason with a
reason or a comment, an RFC 3339 timestamp) and stored once: the same item sent again is accepted
and not duplicated. A sandbox-style ``overrideReason.reason`` without ``display`` is fine.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from cds_service.errors import Refused
from cds_service.security.limits import MAX_FEEDBACK_ITEMS as MAX_ITEMS  # one bound, kept with the others
from cds_service.store.base import Database
from cds_service.store.tables import Feedback


class InvalidFeedback(Refused):
    """A feedback body that breaks CDS Hooks 2.0 §Feedback; the message names the item and element."""


def _timestamp(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidFeedback(f"{where}.outcomeTimestamp is required (RFC 3339)", f"{where}.outcomeTimestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFeedback(f"{where}.outcomeTimestamp is not an RFC 3339 date-time",
                        f"{where}.outcomeTimestamp") from None
    if parsed.tzinfo is None:
        raise InvalidFeedback(f"{where}.outcomeTimestamp needs a time zone", f"{where}.outcomeTimestamp")
    try:
        return parsed.astimezone(UTC).isoformat()
    except OverflowError:  # 0001-01-01T00:00+14:00 is a year-0 instant in UTC
        raise InvalidFeedback(f"{where}.outcomeTimestamp is out of range", f"{where}.outcomeTimestamp") from None


def validate(body: dict) -> list[dict]:
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise InvalidFeedback("feedback must be a non-empty array", "feedback")
    if len(items) > MAX_ITEMS:
        raise InvalidFeedback(f"at most {MAX_ITEMS} feedback items per call", "feedback")
    out = []
    for i, item in enumerate(items):
        where = f"feedback[{i}]"
        if not isinstance(item, dict):
            raise InvalidFeedback(f"{where} must be an object", where)
        card = item.get("card")
        if not isinstance(card, str) or not card or len(card) > 128:
            raise InvalidFeedback(f"{where}.card must be the card uuid", f"{where}.card")
        outcome = item.get("outcome")
        if outcome not in ("accepted", "overridden"):
            raise InvalidFeedback(f"{where}.outcome must be accepted or overridden", f"{where}.outcome")
        accepted = item.get("acceptedSuggestions")
        ids: list[str] = []
        if outcome == "accepted":
            if not isinstance(accepted, list) or not accepted:
                raise InvalidFeedback(f"{where}.acceptedSuggestions is required when outcome is accepted",
                                f"{where}.acceptedSuggestions")
            for j, s in enumerate(accepted):
                if not isinstance(s, dict) or not isinstance(s.get("id"), str) or not s["id"]:
                    raise InvalidFeedback(f"{where}.acceptedSuggestions[{j}].id must be a suggestion uuid",
                                    f"{where}.acceptedSuggestions[{j}]")
                ids.append(s["id"])
        reason = item.get("overrideReason")
        code = system = comment = None
        if reason is not None:
            if not isinstance(reason, dict) or not (reason.get("reason") or reason.get("userComment")):
                raise InvalidFeedback(f"{where}.overrideReason needs a reason or a userComment",
                                f"{where}.overrideReason")
            coding = reason.get("reason")
            if coding is not None and (not isinstance(coding, dict) or not isinstance(coding.get("code"), str)):
                raise InvalidFeedback(f"{where}.overrideReason.reason must be a Coding with a code",
                                f"{where}.overrideReason.reason")
            code = coding.get("code") if coding else None
            system = coding.get("system") if coding and isinstance(coding.get("system"), str) else None
            comment = reason.get("userComment") if isinstance(reason.get("userComment"), str) else None
        out.append({
            "card": card, "outcome": outcome, "outcome_ts": _timestamp(item.get("outcomeTimestamp"), where),
            "accepted_suggestions": ids, "override_code": code, "override_system": system,
            "user_comment": comment,
        })
    return out


def store(db: Database, service_id: str, iss: str, items: list[dict]) -> int:
    """Store items not seen before; returns how many were new."""
    new = 0
    with db.session() as s:
        for item in items:
            exists = s.scalar(select(Feedback.id).where(
                Feedback.service_id == service_id, Feedback.card == item["card"],
                Feedback.outcome == item["outcome"], Feedback.outcome_ts == item["outcome_ts"]))
            if exists is None:
                s.add(Feedback(service_id=service_id, iss=iss, received=datetime.now(UTC), **item))
                s.flush()
                new += 1
    return new
