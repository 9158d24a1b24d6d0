"""Queries over stored decisions (SQLAlchemy; the same SQL on SQLite and PostgreSQL): top failing
requirements per payer and plan by month, the review list of unmapped reasons, and the denial
evidence for new orders (CMS-0057-F specific reasons, domain.md §3).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import extract, func, select

from cds_service.insights.evidence import DenialEvidence, PastDecision, summarize
from cds_service.insights.records import norm_key
from cds_service.insights.rules import DenialData
from cds_service.insights.tables import Decision, DenialReason
from cds_service.store.base import Database


def requirement_months(db: Database, since: date, until: date) -> list[dict]:
    """One row per (payer, plan, requirement, month) with the number of denied decision lines."""
    year, month = extract("year", Decision.decided), extract("month", Decision.decided)
    q = (select(Decision.payer_label, Decision.plan_label, DenialReason.requirement, year, month,
                func.count(func.distinct(Decision.id)))
         .join(DenialReason, DenialReason.decision_id == Decision.id)
         .where(Decision.decided >= since, Decision.decided <= until, Decision.outcome.in_(("denied", "partial")))
         .group_by(Decision.payer_label, Decision.plan_label, DenialReason.requirement, year, month))
    with db.session() as s:
        return [{"payer": p, "plan": pl, "requirement": r or "(unmapped)", "month": f"{int(y):04d}-{int(m):02d}",
                 "denials": n} for p, pl, r, y, m, n in s.execute(q)]


def top_requirements(rows: list[dict], limit: int = 5) -> list[dict]:
    """Collapse ``requirement_months`` rows to the top requirements per payer and plan."""
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        totals[(row["payer"], row["plan"])][row["requirement"]] += row["denials"]
    out = []
    for (payer, plan), reqs in sorted(totals.items(), key=lambda kv: -sum(kv[1].values())):
        ranked = sorted(reqs.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        out.append({"payer": payer, "plan": plan, "total": sum(reqs.values()),
                    "top": [{"requirement": r, "denials": n} for r, n in ranked]})
    return out


def unmapped_reasons(db: Database, limit: int = 200) -> list[dict]:
    q = (select(DenialReason.text, DenialReason.carc, DenialReason.rarc, Decision.payer_label, Decision.code,
                func.count(DenialReason.id), func.max(Decision.decided))
         .join(Decision, DenialReason.decision_id == Decision.id)
         .where(DenialReason.requirement.is_(None))
         .group_by(DenialReason.text, DenialReason.carc, DenialReason.rarc, Decision.payer_label, Decision.code)
         .order_by(func.count(DenialReason.id).desc()).limit(limit))
    with db.session() as s:
        return [{"text": t, "carc": c, "rarc": r, "payer": p, "code": code, "count": n, "last": str(last)}
                for t, c, r, p, code, n, last in s.execute(q)]


def _obj(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _objs(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def coverage_keys(coverage: object, resolve) -> tuple[set[str], str]:
    """Candidate payer keys (payor name, display, identifiers) and the plan key of a FHIR R4 Coverage
    (payor: Reference[], each with one Identifier; Organization.identifier: Identifier[]; class[].type
    coded ``plan``). The EHR's data is read defensively: an element of the wrong JSON type is skipped,
    never raised on, so a malformed Coverage only means fewer keys."""
    coverage = _obj(coverage)
    payers: set[str] = set()
    for ref in _objs(coverage.get("payor")):
        target = ref.get("reference")
        org = _obj(resolve(target)) if isinstance(target, str) else {}
        values = [ref.get("display"), _obj(ref.get("identifier")).get("value"), org.get("name"),
                  *(i.get("value") for i in _objs(org.get("identifier")))]
        payers.update(norm_key(v) for v in values)
    payers.discard("")             # a blank name must not match every decision stored without a payer
    plan = ""
    for cls in _objs(coverage.get("class")):
        if any(c.get("code") == "plan" for c in _objs(_obj(cls.get("type")).get("coding"))):
            plan = norm_key(cls.get("name")) or norm_key(cls.get("value"))
            break
    return payers, plan


def load_evidence(db: Database, determinations: list, record, data: DenialData) -> dict[str, DenialEvidence]:
    """The denial evidence per order (keyed by ``order_ref``) for the orders' payer and plan."""
    out: dict[str, DenialEvidence] = {}
    phrases = {r.requirement: r.phrase for r in reversed(data.rules)}
    for det in determinations:
        group = next((g for g in map(data.group_of, det.codes or ()) if g), None)
        if group is None or not getattr(det, "in_scope", True):
            continue
        coverage = record.resolve(det.coverage_ref) if det.coverage_ref else None
        coverage = coverage or (record.coverages[0] if record.coverages else None)
        payers, plan = coverage_keys(coverage, record.resolve)
        if not payers:
            continue
        q = select(Decision).where(Decision.payer.in_(sorted(payers)), Decision.code.in_(sorted(group.codes)),
                                   Decision.outcome != "pended")
        if plan:
            q = q.where(Decision.plan == plan)
        q = q.order_by(Decision.decided.desc(), Decision.id.desc()).limit(data.window)
        with db.session() as s:
            rows = list(s.scalars(q))
            past = [PastDecision(r.decided, r.outcome, tuple(x.requirement for x in r.reasons if x.requirement))
                    for r in rows]
            labels = (rows[0].payer_label, rows[0].plan_label) if rows else ("", "")
        if past:
            out[det.order_ref] = summarize(past, window=data.window, payer=labels[0] or "This payer",
                                           plan=labels[1], group_label=group.label, phrases=phrases)
    return out
