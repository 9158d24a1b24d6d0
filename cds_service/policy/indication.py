"""Codes that belong to a family only for one use (CMS WISeR guide v6.0 Table A10 note a: 62323 is a
WISeR ESI code only when it is used for an epidural steroid injection, not e.g. an intrathecal pump or
baclofen trial).

The use is read from the order itself: its reason (reasonCode, reasonReference → Condition) and its
text (code.text, orderDetail text, note). Only an order that names another use, and nothing of an
ESI, leaves the family: an order that says nothing keeps the stricter reading (PA required), because
"no PA needed" on a guess would cost the practice the claim.
"""

from __future__ import annotations

from cds_service.policy.chart import _codings, text_of
from cds_service.policy.loader import PolicyDoc, PolicySet
from cds_service.policy.record import PatientRecord


def _texts(order: dict, record: PatientRecord) -> str:
    parts = [text_of((order.get("code") or {}).get("text"))]
    for key in ("reasonCode", "orderDetail"):
        for concept in order.get(key) or ():
            if isinstance(concept, dict):
                parts.append(text_of(concept.get("text")))
                parts += [text_of(c.get("display")) for c in _codings(concept)]
    parts += [text_of(n.get("text")) for n in order.get("note") or () if isinstance(n, dict)]
    parts += [text_of(order.get("patientInstruction"))]
    for ref in order.get("reasonReference") or ():
        cond = record.resolve((ref or {}).get("reference")) if isinstance(ref, dict) else None
        if isinstance(cond, dict):
            parts.append(text_of((cond.get("code") or {}).get("text")))
    return " ".join(p for p in parts if p).lower()


def _reason_codings(order: dict, record: PatientRecord) -> list[dict]:
    out = [c for concept in order.get("reasonCode") or () for c in _codings(concept)]
    for ref in order.get("reasonReference") or ():
        cond = record.resolve((ref or {}).get("reference")) if isinstance(ref, dict) else None
        if isinstance(cond, dict):
            out += list(_codings(cond.get("code")))
    return out


def other_use(family: PolicyDoc, codes: tuple[str, ...], order: dict, record: PatientRecord,
              policies: PolicySet) -> str | None:
    """The reason the order is outside ``family`` (its family codes are all conditional and the order
    names another use), or None."""
    rules = {r["code"]: r for r in family.data.get("conditional_codes", ())}
    in_family = [c for c in codes if policies.vs(family.data["codes"]).contains(None, c)]
    if not in_family or any(c not in rules for c in in_family):
        return None
    text = _texts(order, record)
    reasons = _reason_codings(order, record)
    for code in in_family:
        rule = rules[code]
        if any(policies.vs(v).match(reasons) for v in rule["use_dx_vs"]) or any(k in text for k in rule["use_keywords"]):
            return None
        named = [k for k in rule["other_use_keywords"] if k in text]
        if not named:
            return None
    return rule["message"].format(code=", ".join(in_family), use=named[0])
