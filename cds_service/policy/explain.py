"""Human-readable determination for ``painpa evaluate REQUEST.json --explain``: for each order, the
program and why, the prior-authorization state, then every requirement with its status, what was
found (evidence: reference, date, code), the fix and the source (LCD/NCD/guide section, address,
last verified, UNCONFIRMED flag). Plain text, no colour codes, stable order.
"""

from __future__ import annotations

from collections.abc import Sequence

from cds_service.policy.model import Citation, Determination, Status

_MARK = {Status.MET: "[met]    ", Status.UNMET: "[UNMET]  ", Status.UNKNOWN: "[unknown]"}


def _cite(c: Citation | None) -> str:
    if c is None:
        return ""
    bits = [c.source + (f" {c.section}" if c.section else "")]
    if c.url:
        bits.append(c.url)
    if c.last_verified:
        bits.append(f"verified {c.last_verified}")
    if not c.confirmed:
        bits.append("UNCONFIRMED")
    return "; ".join(bits)


def explain_one(det: Determination) -> str:
    lines = [f"{det.order_ref}  codes: {', '.join(det.codes) or '-'}"]
    if not det.in_scope:
        lines.append(f"  Out of scope: {det.reason}")
        return "\n".join(lines)
    where = ", ".join(x for x in (det.state, det.setting) if x) or "location unknown"
    when = det.service_date.isoformat() if det.service_date else "?"
    lines.append(f"  Payer: {det.payer}   Program: {det.program.label}   ({where}; date of service {when})")
    if det.program.citation:
        lines.append(f"    program source: {_cite(det.program.citation)}")
    if det.policy_label:
        lines.append(f"  Criteria: {det.policy_label}" + (f" <{det.policy_url}>" if det.policy_url else ""))
    lines.append(f"  Coverage: covered={det.covered}  pa-needed={det.pa_needed or '(omitted)'}"
                 + (f"  doc-needed={det.doc_needed}" if det.doc_needed else "")
                 + (f"  info-needed={','.join(det.info_needed)}" if det.info_needed else ""))
    pa = det.prior_auth
    pa_line = f"  Prior authorization: {pa.state.value}"
    if pa.utn:
        pa_line += f"  UTN {pa.utn}"
    if pa.expires:
        pa_line += f"  valid until {pa.expires.isoformat()}"
    if pa.decision_ref:
        pa_line += f"  ({pa.decision_ref})"
    if pa.unread:
        pa_line += f"  (the EHR did not return {', '.join(pa.unread)})"
    if pa.missing_codes and pa.state.value not in ("not-needed", "unknown"):
        pa_line += f"  codes without an affirmed decision: {', '.join(pa.missing_codes)}"
    lines.append(pa_line)
    if det.companion_codes_at_risk:
        lines.append(f"  Companion codes at risk: {', '.join(det.companion_codes_at_risk)}")
    if det.reason:
        lines.append(f"  Reason: {det.reason}")
    for note in det.notes:
        lines.append(f"  Note: {note}")
    if det.requirements:
        lines.append("  Requirements:")
    for r in det.requirements:
        tag = " (audit)" if r.kind == "audit" else " (excludes coverage when unmet)" if r.excludes else ""
        lines.append(f"    {_MARK[r.status]} {r.id}: {r.title}{tag}")
        lines.append(f"               found: {r.detail}")
        if r.blocked_by:
            lines.append(f"               needs first: {r.blocked_by}")
        for e in r.evidence:
            code = f" {e.code}" if e.code else ""
            lines.append(f"               evidence: {e.reference} {e.date or ''}{code} {e.display or ''}".rstrip())
        if r.status is not Status.MET:
            lines.append(f"               fix: {r.fix}")
        lines.append(f"               source: {_cite(r.citation)}")
    if det.policy_version:
        lines.append(f"  Policy data: {det.policy_version}")
    return "\n".join(lines)


def explain(determinations: Sequence[Determination]) -> str:
    if not determinations:
        return "No draft orders to evaluate.\n"
    return "\n\n".join(explain_one(d) for d in determinations) + "\n"
