"""Map one payer reason to the policy requirement it concerns (CMS-0057-F specific denial reasons,
domain.md §3; X12 CARC/RARC codes). Pure: the rules come in as data.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.denials.rules import DenialData, ReasonRule


@dataclass(frozen=True)
class Reason:
    """A reason as the payer gave it: free text and the X12 codes (either may be empty)."""

    text: str = ""
    carc: tuple[str, ...] = ()
    rarc: tuple[str, ...] = ()


def _norm_codes(codes) -> frozenset[str]:
    # Payers write "CO-50", "co 50", "50": the group code (CO/PR/OA/PI/CR) is not part of the reason.
    out = set()
    for code in codes:
        code = str(code).strip().upper()
        for prefix in ("CO-", "PR-", "OA-", "PI-", "CR-", "CO ", "PR ", "OA ", "PI ", "CR "):
            if code.startswith(prefix):
                code = code[len(prefix):].strip()
        if code:
            out.add(code)
    return frozenset(out)


def split_codes(raw: str) -> tuple[str, ...]:
    """``"CO-50; N115,M127"`` → ``("CO-50", "N115", "M127")``."""
    for sep in (";", ",", "|", "/"):
        raw = raw.replace(sep, " ")
    parts, out = raw.split(), []
    i = 0
    while i < len(parts):
        part = parts[i]
        if part.upper() in ("CO", "PR", "OA", "PI", "CR") and i + 1 < len(parts):
            part, i = f"{part}-{parts[i + 1]}", i + 1
        out.append(part)
        i += 1
    return tuple(out)


def _applies(rule: ReasonRule, family: str | None) -> bool:
    return not rule.families or family is None or family in rule.families


def map_reason(reason: Reason, family: str | None, data: DenialData) -> ReasonRule | None:
    """The first rule (in file order) whose text pattern matches, else the first whose CARC/RARC
    codes match; ``None`` when nothing does (the reason goes to the review list)."""
    text = reason.text or ""
    for rule in data.rules:
        if _applies(rule, family) and any(p.search(text) for p in rule.patterns):
            return rule
    carc, rarc = _norm_codes(reason.carc), _norm_codes(reason.rarc)
    for rule in data.rules:
        if _applies(rule, family) and (rule.carc & carc or rule.rarc & rarc):
            return rule
    return None
