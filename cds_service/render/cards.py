"""Determinations → CDS Hooks cards: one per actionable problem, worst first (CDS Hooks 2.0
§Card; CRD cards.md: topic SHALL, indicator from the clinician's view — payment problems are
``warning``, ``critical`` is reserved for life or death; summaries < 140 characters, CC-34).

Problem cards link (``type: smart``) to the SMART app through the CDS layer's ``smart_link`` callback
(an opaque single-use appContext handle); the policy card links (``type: absolute``) to the LCD / plan
policy. A card never mixes smart and absolute links (CC-39: Inferno classifies cards by link type).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cds_service.policy.model import Determination, PAState, ProgramKind, RequirementResult, Status

SmartLink = Callable[[Determination, RequirementResult | None], dict | None]

# (code, display, description): every topic painpa can emit; the CDS layer publishes one boolean
# configuration option per topic (CC-6), plus max-cards.
CARD_TOPICS: tuple[tuple[str, str, str], ...] = (
    ("coverage-info", "Coverage Information", "Prior-authorization status (WISeR / OPD / plan UTN) and plans painpa has no rules for."),
    ("limits", "Limits", "Frequency limits and non-covered variants (e.g. a 5th ESI in 12 months)."),
    ("therapy-alternatives-req", "Required Therapy Alternatives", "Conservative care the policy requires before the procedure."),
    ("appropriate-use", "Appropriate Use", "Diagnosis, scores, imaging and other documentation the policy requires."),
    ("contraindication", "Contraindication", "Recorded conditions the policy lists as contraindications."),
    ("clinical-reminder", "Clinical Reminder", "Companion care the policy expects (e.g. an osteoporosis plan)."),
    ("claim", "Claim", "Audit risks on the claim, e.g. notes copied forward from earlier visits."),
    ("guideline", "Guideline", "A link to the LCD / NCD / plan policy that governs the order."),
)
DEFAULT_MAX_CARDS = 10
MAX_SUMMARY = 139
_SHORT = {ProgramKind.WISER: "WISeR", ProgramKind.OPD_PA: "OPD"}
_PA_RANK = {PAState.NON_AFFIRMED: 1, PAState.NEEDED: 2, PAState.EXPIRED: 2, PAState.PARTIAL: 2, PAState.PENDED: 3,
            PAState.UNKNOWN: 3}


@dataclass(frozen=True)
class Draft:
    rank: int
    seq: int
    summary: str
    detail: str
    indicator: str
    topic: str
    det: Determination
    link: dict | None = None


def clip(text: str, limit: int = MAX_SUMMARY) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _codes(codes: tuple[str, ...]) -> str:
    return " + ".join(codes) if codes else "the ordered codes"


def _order_line(det: Determination) -> str:
    when = f", planned {det.service_date.isoformat()}" if det.service_date else ""
    where = f" in {det.state}" if det.state else ""
    return f"**Order** {det.order_ref} ({', '.join(det.codes) or 'no billing code'}{where}{when})."


def _cite(req_or_det: RequirementResult | Determination) -> str:
    c = req_or_det.citation if isinstance(req_or_det, RequirementResult) else req_or_det.prior_auth.citation
    if c is None:
        return ""
    flag = "" if c.confirmed else " — *UNCONFIRMED: check the source*"
    where = f" {c.section}" if c.section else ""
    link = f" <{c.url}>" if c.url.startswith("https://") else ""
    return f"\n\nSource: {c.source}{where}{link} (verified {c.last_verified}){flag}."


def _term(det: Determination) -> str:
    """The program's own word for the approval number, capitalised to open a sentence."""
    word = det.program.approval_term or "authorization"
    return word if word.isupper() else word[0].upper() + word[1:]


def _pa_summary(det: Determination) -> tuple[str, str] | None:
    pa, short = det.prior_auth, _SHORT.get(det.program.kind, det.program.label)
    term = _term(det)
    risk = " + companion codes at risk" if det.companion_codes_at_risk else ""
    expires = pa.expires.isoformat() if pa.expires else "?"
    word = det.program.approval_term
    article = "an" if word[:1] in tuple("aeiouAEIO") else "a"
    valid = f" {article.capitalize()} {word} is valid {det.program.validity_days} days." if word and det.program.validity_days else ""
    without = f"; without {article} {word} {det.program.without_approval}" if det.program.without_approval else ""
    texts = {
        PAState.NEEDED: (f"{short} prior authorization required — no {det.program.approval_term or 'authorization'} on file "
                         f"({_codes(det.codes)}{risk})",
                         f"Submit the prior-authorization request before scheduling{without}.{valid}"),
        PAState.NON_AFFIRMED: (f"{short} PA non-affirmed ({term} {pa.utn}) — {_codes(pa.missing_codes or det.codes)} will be denied",
                               "Resubmit with the missing documentation (peer-to-peer is available), or give the patient an ABN."),
        PAState.PENDED: (f"{short} PA pending{f' ({pa.utn})' if pa.utn else ''} — hold scheduling until affirmed",
                         f"Wait for the affirmed decision and its {term} before the procedure."),
        PAState.EXPIRED: (f"{short} {term} {pa.utn} expired {expires} — new PA needed for this date of service",
                          "Submit a new prior-authorization request covering the planned date of service."),
        PAState.PARTIAL: (f"{term} {pa.utn} does not cover {_codes(pa.missing_codes)} — add the code(s) to the PA",
                          "Codes not on the PA request are denied: request the missing codes on the same service's PAR."),
    }
    if pa.unread:  # a PA program applies but its records were not returned (not an unknown plan)
        texts[PAState.UNKNOWN] = (
            f"Could not verify prior authorization on file — {short} PA required ({_codes(det.codes)}{risk})",
            f"The EHR did not return {', '.join(pa.unread)}, so painpa cannot tell whether an affirmed decision "
            f"covers this order. Check the payer portal or the chart for the {term} before scheduling.")
    return texts.get(pa.state)


def _requirement_cards(det: Determination, seq: int, head: str, smart_link: SmartLink) -> list[Draft]:
    """One card per unmet requirement (not those waiting on a prerequisite), one for the unknowns."""
    out = []
    for r in det.requirements:
        if r.status is not Status.UNMET or r.blocked_by:
            continue
        rank = 0 if r.excludes else 4 if r.topic == "contraindication" else \
            5 if r.kind == "clinical" else 6 if r.kind == "admin" else 7
        ev = "".join(f"\n- {e.reference}{f' ({e.date})' if e.date else ''}{f': {e.display}' if e.display else ''}"
                     for e in r.evidence)
        body = f"{head}\n\n**{r.title}**: {r.detail}\n\n**Fix:** {r.fix}" + (f"\n\nFound:{ev}" if ev else "") + _cite(r)
        out.append(Draft(rank, seq, clip(r.detail), body, "warning", r.topic, det, smart_link(det, r)))
    unknown = [r for r in det.requirements if r.status is Status.UNKNOWN]
    if unknown:
        items = "".join(f"\n- {r.title}: {r.detail}" for r in unknown)
        out.append(Draft(8, seq, clip(f"Could not check {len(unknown)} requirement(s): the EHR did not return the data"),
                         f"{head}\n\nNot checked:{items}", "info", "appropriate-use", det, smart_link(det, None)))
    return out


def _pa_cards(det: Determination, seq: int, head: str, smart_link: SmartLink) -> list[Draft]:
    """The prior-authorization problem, the valid UTN, or the missing location that decides PA."""
    notes = "".join(f"\n\n{n}" for n in det.notes)
    pa_text = _pa_summary(det)
    if pa_text and det.covered != "not-covered":
        risk = f"\n\nCompanion codes that fall with this decision: {', '.join(det.companion_codes_at_risk)}." \
            if det.companion_codes_at_risk else ""
        return [Draft(_PA_RANK[det.prior_auth.state], seq, clip(pa_text[0]), f"{head}\n\n{pa_text[1]}{risk}{notes}{_cite(det)}",
                      "warning", "coverage-info", det, smart_link(det, None))]
    if det.prior_auth.state is PAState.SATISFIED:
        term = _term(det)
        valid = f"valid until {det.prior_auth.expires.isoformat()}" if det.prior_auth.expires else "on file"
        return [Draft(11, seq, clip(f"{term} {det.prior_auth.utn} {valid} ({_codes(det.prior_auth.covered_codes)})"),
                      f"{head}\n\nAffirmed decision {det.prior_auth.decision_ref} covers every PA code of the order."
                      f"{notes}{_cite(det)}", "info", "coverage-info", det)]
    if det.prior_auth.state is PAState.UNKNOWN and "location" in det.info_needed:
        return [Draft(9, seq, "Prior authorization depends on where the service is done — add the location to the order",
                      f"{head}\n\n{det.reason}", "info", "coverage-info", det)]
    return []


def _unread_card(det: Determination, seq: int, head: str) -> Draft:
    """The plan is unknown because the EHR did not return the patient's coverage: say that, not "no
    rules configured" (CRD foundation "Performance"; CC-56)."""
    missing = ", ".join(det.unread)
    return Draft(3, seq, clip(f"Could not verify coverage — the EHR did not return the patient's {missing}; "
                              "payer rules unknown"),
                 f"{head}\n\npainpa asked the EHR's FHIR server for this patient's {missing} and did not get a usable "
                 "answer before its deadline (the server was slow, failed, or sent data painpa could not read). "
                 "Whether this order needs prior authorization, and which documentation the plan requires, is "
                 "**unknown**: nothing was found unmet. Sign again in a moment, or check the plan's rules directly.",
                 "warning", "coverage-info", det)


def drafts(dets: list[Determination], smart_link: SmartLink) -> list[Draft]:
    """Every card the determinations call for, with its severity rank (0 = worst)."""
    out: list[Draft] = []
    for seq, det in enumerate(dets):
        if not det.in_scope:
            continue
        head = _order_line(det)
        if det.program.kind is ProgramKind.UNKNOWN_PLAN and det.unread:
            out.append(_unread_card(det, seq, head))
        elif det.program.kind is ProgramKind.UNKNOWN_PLAN:
            summary = (f"No coverage rules configured for {det.program.label} — check the plan's PA list"
                       if det.coverage_ref else "No active coverage on file — payer rules unknown")
            out.append(Draft(10, seq, clip(summary), f"{head}\n\n{det.reason}", "info", "coverage-info", det))
        out += _requirement_cards(det, seq, head, smart_link)
        out += _pa_cards(det, seq, head, smart_link)
        if det.policy_url.startswith("https://"):
            notes = "".join(f"\n\n{n}" for n in det.notes)
            link = {"label": clip(det.policy_label or "Coverage policy", 80), "url": det.policy_url, "type": "absolute"}
            head_line = "No prior authorization needed — claim reviewed against" if det.pa_needed == "no-auth" \
                and det.program.kind is ProgramKind.LCD else "Policy:"
            out.append(Draft(12, seq, clip(f"{head_line} {det.policy_label or det.program.label}"),
                             f"{head}\n\nCriteria applied: {det.policy_label}. Program: {det.program.label}.{notes}",
                             "info", "guideline", det, link))
    return out
