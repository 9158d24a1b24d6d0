"""The in-memory shape of an imported payer decision, whatever its channel (Da Vinci PAS
ClaimResponse, standards.md §4.2; a practice's denial CSV; CMS-0057-F specific reasons, domain.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from cds_service.denials.mapping import Reason

OUTCOMES = ("affirmed", "denied", "partial", "pended")

# Words payers and billing systems use for a decision, normalised to OUTCOMES.
_OUTCOME_WORDS = {
    "affirmed": "affirmed", "approved": "affirmed", "approve": "affirmed", "certified": "affirmed",
    "a1": "affirmed", "paid": "affirmed", "provisional affirmation": "affirmed",
    "denied": "denied", "deny": "denied", "denial": "denied", "non-affirmed": "denied",
    "not affirmed": "denied", "non-affirmation": "denied", "not certified": "denied", "a3": "denied",
    "rejected": "denied",
    "partial": "partial", "modified": "partial", "a6": "partial", "partially approved": "partial",
    "provisional partial affirmation": "partial",
    "pended": "pended", "pending": "pended", "a4": "pended",
}


def outcome_word(raw: str | None) -> str | None:
    return _OUTCOME_WORDS.get(" ".join((raw or "").split()).casefold())


def norm_key(label: object) -> str:
    """Payers, plans and clinicians are matched by a case- and space-insensitive key. Anything but a
    string (a malformed FHIR element: a number, an object, a list) is no key at all."""
    return " ".join(label.split()).casefold() if isinstance(label, str) else ""


@dataclass(frozen=True)
class DecisionRecord:
    source: str                    # "pas" | "csv"
    source_key: str                # stable per decision line: re-importing adds nothing
    kind: str                      # "prior-auth" | "claim"
    payer: str                     # label as the payer names itself
    code: str                      # CPT/HCPCS of the line
    outcome: str                   # one of OUTCOMES
    decided: date
    plan: str = ""
    program: str = ""
    clinician: str = ""            # NPI or Practitioner reference
    clinician_label: str = ""
    appeal_outcome: str = ""       # "" | "affirmed" | "denied"
    expedited: bool = False
    submitted: datetime | None = None
    decision_hours: float | None = None
    patient_ref: str = ""          # hashed before it is stored
    reasons: tuple[Reason, ...] = field(default=())


@dataclass
class ImportReport:
    """What an import did, for the CLI and the dashboard. Errors name the line or resource."""

    added: int = 0
    duplicates: int = 0
    unmapped: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"added": self.added, "duplicates": self.duplicates, "unmapped": self.unmapped,
                "errors": self.errors[:50]}
