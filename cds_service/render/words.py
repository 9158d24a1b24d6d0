"""Card wording for a person in a hurry: the order in words (procedure, level, laterality, date of
service — never a resource id), and texts written to fit their limits instead of being cut
(CDS Hooks 2.0 §Card: ``summary`` < 140 characters; §Link: a short ``label``; CC-34, CC-39).

The order is read from the draft order itself (CDS Hooks ``draftOrders``: ``code.text`` or the
coding's display, ``bodySite``, ``occurrence[x]``), falling back to the display of the code in
painpa's family value sets (fhir_profiles/valuesets/family-*.json).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache

from cds_service.policy.loader import DEFAULT_ROOT
from cds_service.policy.model import Determination

MAX_SUMMARY = 139
MAX_LABEL = 80
_FAMILY = {"esi": "Epidural steroid injection", "scs": "Neurostimulator implant", "pva": "Vertebral augmentation"}
_LONGEST_PROCEDURE = 80     # a longer name gives way to the family's word


@cache
def _displays() -> dict[str, str]:
    out: dict[str, str] = {}
    for family in _FAMILY:
        data = json.loads((DEFAULT_ROOT / "valuesets" / f"family-{family}.json").read_text(encoding="utf-8"))
        for include in data.get("compose", {}).get("include", ()):
            out.update({c["code"]: c["display"] for c in include.get("concept", ()) if c.get("display")})
    return out


def _text(concept: object) -> str:
    if not isinstance(concept, dict):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return " ".join(text.split())
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict) and isinstance(coding.get("display"), str) and coding["display"].strip():
            return " ".join(coding["display"].split())
    return ""


def when(day: date | None) -> str:
    return f"{day:%b} {day.day}, {day.year}" if day else "no date of service"


@dataclass(frozen=True)
class OrderWords:
    procedure: str          # "Transforaminal ESI, lumbar/sacral"
    family: str             # "Epidural steroid injection"
    site: str               # "L4-L5 Left" (level and laterality as the order gives them), or ""
    day: str                # "Dec 14, 2026"
    codes: str              # "64483 + 64484"

    def long(self) -> str:
        return ", ".join(p for p in (self.procedure, self.site, self.day) if p)

    def short(self) -> str:
        return ", ".join(p for p in (self.family, self.site, self.day) if p)

    def heading(self) -> str:
        codes = "" if self.codes in self.procedure else f" ({self.codes})"
        return " · ".join(p for p in (f"**{self.procedure}**{codes}", self.site, self.day) if p)


def describe(det: Determination, order: dict | None) -> OrderWords:
    """The order in the words the EHR used for it, else painpa's name for its billing code."""
    order = order if isinstance(order, dict) else {}
    code = det.codes[0] if det.codes else ""
    procedure = _text(order.get("code")) or _displays().get(code, "") or (f"CPT {code}" if code else "Procedure")
    family = _FAMILY.get(det.family or "", "Procedure")
    if len(procedure) > _LONGEST_PROCEDURE:
        procedure = f"{family} ({code})" if code else family
    sites = [t for t in (_text(s) for s in order.get("bodySite") or ()) if t]
    return OrderWords(procedure=procedure, family=family, site=", ".join(sites), day=when(det.service_date),
                      codes=" + ".join(det.codes) or "no billing code")


def fit(candidates: Iterable[str], limit: int) -> str:
    """The first candidate that fits ``limit`` whole. Callers end their list with a text that always
    fits; a last resort cuts at a word boundary rather than mid-word."""
    last = ""
    for text in candidates:
        last = " ".join(text.split())
        if 0 < len(last) <= limit:
            return last
    return last[:limit].rsplit(" ", 1)[0]


def phrases(title: str) -> list[str]:
    """A requirement title and its shorter complete phrases: before the colon, the bracket, the
    comma ("Qualifying diagnosis: radiculopathy, …" → "Qualifying diagnosis")."""
    out = [title]
    for sep in (": ", " (", ", ", " — "):
        head = title.split(sep, 1)[0].strip()
        if head and head not in out:
            out.append(head)
    return out
