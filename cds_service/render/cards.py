"""Determinations → CDS Hooks cards, one per order (CDS Hooks 2.0 §Card; CRD cards.md: topic SHALL,
indicator from the clinician's view — payment problems are ``warning``, ``critical`` is reserved for
life or death; summaries < 140 characters, CC-34).

A card names its order in words and carries a short checklist of what is missing, worst first,
then the prior-authorization state. Each line of a card is an :class:`Item` with its own CRD topic,
so the per-topic configuration (CC-31) removes lines; the card takes the topic of its worst line.
Sources are cited once per card; the payer's denial history shows only on a card that asks the
physician to act. Cards that ask for action link (``type: smart``) to the SMART app through the CDS
layer's ``smart_link`` callback; the "ready" card links (``type: absolute``) to the governing
policy. A card never mixes smart and absolute links (CC-39: Inferno classifies cards by link type).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cds_service.policy.model import Citation, Determination, PAState, ProgramKind, RequirementResult, Status
from cds_service.render.words import MAX_LABEL, MAX_SUMMARY, OrderWords, describe, fit, phrases

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
    ("guideline", "Guideline", "An order with nothing missing, and the LCD / NCD / plan policy that governs it."),
)
DEFAULT_MAX_CARDS = 10
CHECKLIST_SHOWN = 5
_SHORT = {ProgramKind.WISER: "WISeR", ProgramKind.OPD_PA: "OPD"}
_PA_RANK = {PAState.NON_AFFIRMED: 1, PAState.NEEDED: 2, PAState.EXPIRED: 2, PAState.PARTIAL: 2, PAState.PENDED: 3,
            PAState.UNKNOWN: 3}
_REQUEST_PA = (PAState.NEEDED, PAState.EXPIRED, PAState.PARTIAL)


@dataclass(frozen=True)
class Item:
    """One line of an order's card."""
    rank: int                       # 0 = worst
    topic: str
    headline: str                   # a few words for the summary
    text: str                       # the line in the detail (Markdown)
    warning: bool = False           # something the physician must do or know before scheduling
    requirement: RequirementResult | None = None
    citation: Citation | None = None
    linked: bool = False            # the SMART app can fix it
    short: str = ""                 # fewer words still, after a checklist in the summary


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


def _codes(codes: tuple[str, ...]) -> str:
    return " + ".join(codes) if codes else "the ordered codes"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _term(det: Determination, *, opens: bool = False) -> str:
    """The program's own word for the approval ("UTN" for Medicare's programs, "authorization
    number" for a plan pack); capitalised when it opens a sentence."""
    word = det.program.approval_term or "authorization"
    return word[0].upper() + word[1:] if opens else word


def _article(word: str) -> str:
    """"a UTN", "an authorization number": an acronym is said letter by letter."""
    if word.isupper():
        return "an" if word[:1] in "AEFHILMNORSX" else "a"
    return "an" if word[:1].lower() in "aeiou" else "a"


def _without(det: Determination) -> str:
    """What the program does to a claim with no approval, and how long an approval lasts: the
    program's own terms (policy data), never Medicare's words on a plan's card."""
    word = det.program.approval_term or "authorization"
    article = _article(word)
    without = f"; without {article} {word} {det.program.without_approval}" if det.program.without_approval else ""
    valid = f" {article.capitalize()} {word} is valid {det.program.validity_days} days." \
        if det.program.validity_days else ""
    return f"Submit the request before scheduling{without}.{valid}"


def _checklist(det: Determination) -> list[Item]:
    """Unmet requirements (not those waiting on a prerequisite) worst first, then the unknowns."""
    out = []
    for r in det.requirements:
        if r.status is not Status.UNMET or r.blocked_by:
            continue
        rank = 0 if r.excludes else 4 if r.topic == "contraindication" else \
            5 if r.kind == "clinical" else 6 if r.kind == "admin" else 7
        out.append(Item(rank, r.topic, r.detail, f"**{r.title}**: {r.detail} **Fix:** {r.fix}", True, r, r.citation, True))
    unknown = [r for r in det.requirements if r.status is Status.UNKNOWN]
    if unknown:
        titles = "".join(f"\n   - {r.title}" for r in unknown)   # titles may hold "; ": one per line
        out.append(Item(8, "appropriate-use", _count(len(unknown), "requirement") + " not checked",
                        f"**Not checked** (the EHR did not return the data):{titles}", linked=True))
    return sorted(out, key=lambda i: i.rank)


def _pa_state(det: Determination) -> Item | None:
    """The prior-authorization or coverage state of the order: one line, or none."""
    pa, short, term = det.prior_auth, _SHORT.get(det.program.kind, det.program.label), _term(det)
    codes = _codes(det.codes)
    if det.program.kind is ProgramKind.UNKNOWN_PLAN and det.unread:
        missing = ", ".join(det.unread)   # CRD foundation "Performance"; CC-56: say so, not "no rules"
        return Item(3, "coverage-info", f"Could not verify coverage — the EHR did not return the patient's {missing}",
                    f"**Coverage not verified:** painpa asked the EHR for this patient's {missing} and got no usable "
                    "answer in time, so whether this order needs prior authorization is **unknown**; nothing was "
                    "found unmet. Sign again in a moment, or check the plan's rules directly.", warning=True,
                    short="coverage not verified")
    if det.program.kind is ProgramKind.UNKNOWN_PLAN:
        head = (f"No coverage rules configured for {det.program.label} — check the plan's PA list"
                if det.coverage_ref else "No active coverage on file — payer rules unknown")
        return Item(10, "coverage-info", head, f"**Coverage:** {det.reason}")
    if det.covered == "not-covered":
        return None
    expires = pa.expires.isoformat() if pa.expires else "?"
    risk = f" Companion codes that fall with this decision: {', '.join(det.companion_codes_at_risk)}." \
        if det.companion_codes_at_risk else ""
    texts = {   # state: (headline, short, what to do)
        PAState.NEEDED: (f"{short} prior authorization required — no {term} on file", f"{short} PA needed",
                         _without(det)),
        PAState.NON_AFFIRMED: (f"{short} PA non-affirmed ({term} {pa.utn}) — {_codes(pa.missing_codes or det.codes)} "
                               "will be denied", f"{short} PA non-affirmed",
                               "Resubmit with the missing documentation (peer-to-peer is available), or give the "
                               "patient an ABN."),
        PAState.PENDED: (f"{short} PA pending{f' ({pa.utn})' if pa.utn else ''} — hold scheduling until affirmed",
                         f"{short} PA pending", f"Wait for the affirmed decision and its {term} before the procedure."),
        PAState.EXPIRED: (f"{short} {term} {pa.utn} expired {expires} — new PA needed for this date of service",
                          f"{short} {term} expired", "Submit a new request covering the planned date of service."),
        PAState.PARTIAL: (f"{_term(det, opens=True)} {pa.utn} does not cover {_codes(pa.missing_codes)} — add the "
                          "code(s) to the PA", f"{_term(det, opens=True)} lacks {_codes(pa.missing_codes)}",
                          "Codes not on the request are denied: request the missing codes on the same service's PAR."),
    }
    if pa.unread:   # a PA program applies but its records were not returned (not an unknown plan)
        texts[PAState.UNKNOWN] = (f"Could not verify prior authorization on file — {short} PA required",
                                  f"{short} PA on file not verified",
                                  f"The EHR did not return {', '.join(pa.unread)}; check the payer portal or the "
                                  f"chart for the {term} before scheduling.")
    if pa.state in texts:
        head, brief, todo = texts[pa.state]
        which = "" if codes in head else f" ({codes})"
        return Item(_PA_RANK[pa.state], "coverage-info", head, f"**Prior authorization:** {head}{which}. {todo}{risk}",
                    warning=True, citation=pa.citation, linked=True, short=brief)
    if pa.state is PAState.SATISFIED:
        head = f"{_term(det, opens=True)} {pa.utn} " + (f"valid until {expires}" if pa.expires else "on file")
        return Item(11, "coverage-info", head,
                    f"**Prior authorization:** {head}; the affirmed decision covers {_codes(pa.covered_codes)}.")
    if pa.state is PAState.UNKNOWN and "location" in det.info_needed:
        head = "Prior authorization depends on where it is done — add the location to the order"
        return Item(9, "coverage-info", head, f"**Prior authorization:** {det.reason}")
    return None


def _ready(det: Determination) -> Item:
    label = det.policy_label or det.program.label
    if det.program.kind is ProgramKind.LCD and det.pa_needed == "no-auth":
        # "nothing needed" must read differently from "not evaluated": say which criteria the claim
        # meets review against, and (in the notes) why no prior-authorization program applies
        head = f"No prior authorization needed — claim reviewed against {label}"
        return Item(12, "guideline", head, f"**{head}.** Nothing missing." + "".join(f"\n\n{n}" for n in det.notes))
    pa = "no prior authorization needed" if det.pa_needed in (None, "no-auth") else "prior authorization in order"
    return Item(12, "guideline", f"nothing missing, {pa}", f"Nothing missing for {label}; {pa}.")


def _sources(items: Sequence[Item]) -> str:
    seen: list[str] = []
    for c in (i.citation for i in items):
        if c is None:
            continue
        where = f" {c.section}" if c.section and not c.source.endswith(c.section) else ""
        name = f"[{c.source}{where}]({c.url})" if c.url.startswith("https://") else f"{c.source}{where}"
        flag = " — *UNCONFIRMED: check the source*" if not c.confirmed else ""
        line = f"{name} (verified {c.last_verified}){flag}"
        if line not in seen:
            seen.append(line)
    return f"Sources: {'; '.join(seen)}." if seen else ""


def _summary(words: OrderWords, checklist: list[Item], state: Item | None) -> str:
    """The order in words, then its worst missing item and the PA state, in the longest wording that fits."""
    statuses = []
    if checklist:
        more = f" (+{len(checklist) - 1} more)" if len(checklist) > 1 else ""
        count = _count(len(checklist), "item") + " missing"
        thens = [f"; then {state.short}", ""] if state is not None and state.warning else [""]
        statuses += [f"{head}{then}" for then in thens for head in (f"{checklist[0].headline}{more}", count)]
    elif state is not None:
        statuses += [state.headline, state.short or state.headline]
    return fit([f"{w}: {s}" for s in statuses for w in (words.long(), words.short())] + statuses, MAX_SUMMARY)


def _link(det: Determination, checklist: list[Item], state: Item | None, smart_link: SmartLink) -> dict | None:
    """One smart link: to the fix when one requirement is missing, else to the order's worklist;
    its label written to fit (never cut mid-phrase)."""
    reqs = [i.requirement for i in checklist if i.requirement is not None]
    if len(checklist) == 1 and reqs:
        link = smart_link(det, reqs[0])
        label = fit([f"Fix in painpa: {p}" for p in phrases(reqs[0].title)] + ["Fix in painpa"], MAX_LABEL)
    elif checklist or (state is not None and state.linked):
        link = smart_link(det, None)
        label = (f"Fix {_count(len(checklist), 'item')} in painpa" if reqs else
                 "Request prior authorization in painpa" if det.prior_auth.state in _REQUEST_PA else
                 "Open painpa worklist")
    else:
        return None
    return {**link, "label": label} if link else None


def order_card(det: Determination, order: dict | None, seq: int, enabled: set[str], smart_link: SmartLink) -> Draft | None:
    """The one card for ``det``'s order, or None when it is out of scope or every line is switched off."""
    if not det.in_scope:
        return None
    checklist = [i for i in _checklist(det) if i.topic in enabled]
    state = _pa_state(det)
    state = state if state is not None and state.topic in enabled else None
    lines = [*checklist, *([state] if state else [])]
    ready = None if lines or "guideline" not in enabled else _ready(det)
    if not lines and ready is None:
        return None
    words = describe(det, order)
    action = any(i.warning for i in lines)
    parts = [f"{words.heading()} · {det.program.label}"]
    if checklist:
        shown = "\n".join(f"{n}. {i.text}" for n, i in enumerate(checklist[:CHECKLIST_SHOWN], 1))
        hidden = len(checklist) - CHECKLIST_SHOWN
        heading = "Missing, worst first:" if len(checklist) > 1 else "Missing:"
        parts.append(f"{heading}\n\n{shown}" + (f"\n\n…and {hidden} more on the painpa worklist." if hidden > 0 else ""))
    if state is not None:
        parts.append(state.text)
    if ready is not None:
        parts.append(ready.text)
    if action:
        parts += list(det.notes)
        if det.policy_url.startswith("https://"):
            parts.append(f"Criteria: [{det.policy_label or 'coverage policy'}]({det.policy_url}).")
        parts.append(_sources(lines))
    worst = min(lines or [ready], key=lambda i: i.rank)
    if ready is not None and det.policy_url.startswith("https://"):
        link = {"label": fit([det.policy_label, "Coverage policy"], MAX_LABEL), "url": det.policy_url, "type": "absolute"}
    else:
        link = _link(det, checklist, state, smart_link)
    return Draft(worst.rank, seq, _summary(words, checklist, state or ready), "\n\n".join(p for p in parts if p),
                 "warning" if action else "info", worst.topic, det, link)


def drafts(dets: Sequence[Determination], orders: Sequence[dict], enabled: set[str], smart_link: SmartLink) -> list[Draft]:
    """One card per in-scope order, worst first (rank, then the order's position)."""
    out = []
    for seq, det in enumerate(dets):
        card = order_card(det, orders[seq] if seq < len(orders) else None, seq, enabled, smart_link)
        if card is not None:
            out.append(card)
    return sorted(out, key=lambda d: (d.rank, d.seq))
