"""Queries over stored decisions (SQLAlchemy; the same SQL on SQLite and PostgreSQL): top failing
requirements per payer and plan by month, the review list of unmapped reasons, and the denial
evidence for new orders (CMS-0057-F specific reasons, domain.md §3).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date

from sqlalchemy import Integer, bindparam, extract, func, literal, select, union_all

from cds_service.denials.evidence import DenialEvidence, PastDecision, summarize
from cds_service.denials.records import norm_key
from cds_service.denials.rules import DenialData
from cds_service.denials.tables import Decision, DenialReason
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


_DECISIONS = Decision.__table__
_REASONS = DenialReason.__table__
_MAPPED_REASONS = (select(_REASONS.c.decision_id, _REASONS.c.requirement)
                   .where(_REASONS.c.decision_id.in_(bindparam("ids", expanding=True)),
                          _REASONS.c.requirement.is_not(None))
                   .order_by(_REASONS.c.decision_id, _REASONS.c.id))


def _recent_decisions(arm: int, with_plan: bool):
    """The newest ``window`` decided (not pended) decisions of one payer/plan/service group, tagged
    with ``arm`` so that one UNION ALL answers every order of a hook call."""
    d = _DECISIONS.c
    q = (select(literal(arm, Integer).label("arm"), d.id, d.decided, d.outcome, d.payer_label, d.plan_label)
         .where(d.payer.in_(bindparam(f"payers_{arm}", expanding=True)),
                d.code.in_(bindparam(f"codes_{arm}", expanding=True)), d.outcome != "pended"))
    if with_plan:
        q = q.where(d.plan == bindparam(f"plan_{arm}"))
    return q.order_by(d.decided.desc(), d.id.desc()).limit(bindparam("window", type_=Integer))


@functools.lru_cache(maxsize=64)
def _decisions_query(with_plan: tuple[bool, ...]):
    """The decisions of every arm (one per distinct payer/plan/group of the call), newest first per
    arm. Built once per shape: statement construction cost more than the SQL on the hook path."""
    if len(with_plan) == 1:
        return _recent_decisions(0, with_plan[0])
    # A subquery per arm: SQLite refuses ORDER BY/LIMIT directly inside a compound select.
    union = union_all(*(_recent_decisions(n, p).subquery().select() for n, p in enumerate(with_plan))).subquery()
    return select(union).order_by(union.c.arm, union.c.decided.desc(), union.c.id.desc())


def load_evidence(db: Database, determinations: list, record, data: DenialData) -> dict[str, DenialEvidence]:
    """The denial evidence per order (keyed by ``order_ref``) for the orders' payer and plan.

    This runs on every hook call, so it is two prebuilt Core statements whatever the number of
    orders (the decisions of every distinct payer/plan/group, then their mapped reasons) rather than
    an ORM select per order plus the load of each decision's reasons.
    """
    phrases = {r.requirement: r.phrase for r in reversed(data.rules)}
    arms: dict[tuple, int] = {}                 # (payers, plan, group) -> arm number
    wanted: list[tuple[str, tuple]] = []        # (order_ref, arm key), in determination order
    for det in determinations:
        group = next((g for g in map(data.group_of, det.codes or ()) if g), None)
        if group is None or not getattr(det, "in_scope", True):
            continue
        coverage = record.resolve(det.coverage_ref) if det.coverage_ref else None
        coverage = coverage or (record.coverages[0] if record.coverages else None)
        payers, plan = coverage_keys(coverage, record.resolve)
        if not payers:
            continue
        key = (frozenset(payers), plan, group)
        arms.setdefault(key, len(arms))
        wanted.append((det.order_ref, key))
    if not arms:
        return {}
    params: dict[str, object] = {"window": data.window}
    for (payers, plan, group), n in arms.items():
        params.update({f"payers_{n}": sorted(payers), f"codes_{n}": sorted(group.codes)})
        if plan:
            params[f"plan_{n}"] = plan
    rows_by_arm: dict[int, list] = defaultdict(list)
    requirements: dict[int, list[str]] = defaultdict(list)
    with db.begin() as conn:
        for row in conn.execute(_decisions_query(tuple(bool(plan) for _, plan, _ in arms)), params):
            rows_by_arm[row.arm].append(row)
        ids = sorted({row.id for rows in rows_by_arm.values() for row in rows})
        if ids:
            for decision_id, requirement in conn.execute(_MAPPED_REASONS, {"ids": ids}):
                if requirement:
                    requirements[decision_id].append(requirement)
    found: dict[tuple, DenialEvidence] = {}
    for key, n in arms.items():
        rows = rows_by_arm.get(n)
        if rows:
            past = [PastDecision(row.decided, row.outcome, tuple(requirements.get(row.id, ()))) for row in rows]
            found[key] = summarize(past, window=data.window, payer=rows[0].payer_label or "This payer",
                                   plan=rows[0].plan_label, group_label=key[2].label, phrases=phrases)
    return {ref: found[key] for ref, key in wanted if key in found}
