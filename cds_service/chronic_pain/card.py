"""The one card of the chronic pain management service (CDS Hooks 2.0 §Card; G3002/G3003,
domain.md §4): this calendar month's status, what is missing and what is billable. Pure: the
status, the card uuid and the links come in.

The indicator is ``info`` while there is time to finish the month and ``warning`` in its last
week when something is still missing: the money is lost when the month ends.
"""

from __future__ import annotations

from cds_service.policy.cpm import CpmStatus
from cds_service.policy.model import Status

TOPIC = {"code": "clinical-reminder", "display": "Clinical Reminder"}
# The forms that complete a month (fhir_profiles/questionnaires): the card's SMART link and the app page open them.
FORMS = ("cpm-time", "cpm-careplan")
SUMMARY_MAX = 139
_MARK = {Status.MET: "Met", Status.UNMET: "Missing", Status.UNKNOWN: "Not readable"}


def _billing(status: CpmStatus) -> str:
    if not status.g3002:
        return ""
    return "G3002" + (f" + {status.g3003} × G3003" if status.g3003 else "")


def summary(status: CpmStatus) -> str:
    month = f"{status.month:%b %Y}"
    if status.billable:
        text = f"Chronic pain mgmt {month}: {_billing(status)} ready to bill ({status.minutes} min)"
    else:
        parts = []
        for r in status.missing:
            if r.status is Status.UNKNOWN:
                parts.append(f"{r.title.split(' (')[0].lower()} not readable")
            elif r.id == "cpm.time":
                parts.append(f"{status.minutes} of 30 min")
            elif r.id == "cpm.care-plan":
                parts.append("no care plan" if "No active" in r.detail else r.detail.replace("Care plan lacks ", "plan lacks "))
            elif r.id == "cpm.pain-scale":
                parts.append("no pain scale this month")
            else:
                parts.append("no initial visit")
        days = status.days_left
        left = " — last day" if days == 0 else f" — {days} day{'s' if days != 1 else ''} left"
        text = f"Chronic pain mgmt {month}: " + "; ".join(parts) + left
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def detail(status: CpmStatus) -> str:
    lines = [f"Chronic pain (> 3 months) on record: {status.condition.display or status.condition.reference}"
             + (f", qualifying since {status.qualified_on}" if status.qualified_on else "") + ".", "",
             f"**{status.month:%B %Y}** ({status.days_left} day(s) left in the month):", ""]
    for r in status.requirements:
        lines.append(f"- **{_MARK[r.status]}** · {r.title}: {r.detail}" + (f" — *{r.fix}*" if r.fix else ""))
    lines.append("")
    if status.g3002:
        nxt = f"; {status.minutes_to_next} more minutes add a G3003" if status.minutes_to_next else ""
        lines.append(f"Time: {status.minutes} minutes = {_billing(status)}{nxt}.")
    else:
        lines.append(f"Time: {status.minutes} minutes; {status.minutes_to_next} more for G3002 (30 minutes, met or "
                     "exceeded, personally by the physician or qualified professional).")
    if status.unattributed_minutes:
        lines.append(f"{status.unattributed_minutes} minutes were recorded without a physician/QHP performer and are not counted.")
    cites = sorted({f"{r.citation.source} ({r.citation.section})" + ("" if r.citation.confirmed else " — partly unconfirmed")
                    for r in status.requirements})
    lines += ["", "Sources: " + "; ".join(cites)]
    return "\n".join(lines)


def card(status: CpmStatus, *, uuid: str, topic_system: str, links: list[dict]) -> dict:
    urgent = not status.billable and status.days_left <= 7
    out = {
        "uuid": uuid,
        "summary": summary(status),
        "detail": detail(status),
        "indicator": "warning" if urgent else "info",
        "source": {"label": "painpa chronic pain management", "topic": {"system": topic_system, **TOPIC}},
    }
    if links:
        out["links"] = links
    return out
