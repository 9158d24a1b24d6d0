"""Determination model: the one shape every surface reads (CDS cards, coverage-information, the
SMART worklist, the explain printer, the audit row).

Vocabulary follows ARCHITECTURE.md "How an order's determination maps to CRD coverage-information"
and the CRD coverage-information value sets (standards.md §2.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Status(StrEnum):
    MET = "met"
    UNMET = "unmet"
    UNKNOWN = "unknown"  # the record could not be read (query failed, data absent and not derivable)


class ProgramKind(StrEnum):
    WISER = "wiser"            # CMS WISeR model, traditional Medicare, six states
    OPD_PA = "opd-pa"          # national hospital-outpatient prior-authorization program
    LCD = "lcd"                # traditional Medicare, documentation per LCD/NCD, no PA
    PLAN_PACK = "plan-pack"    # MA / commercial plan with a configured policy pack
    UNKNOWN_PLAN = "unknown-plan"
    OUT_OF_SCOPE = "out-of-scope"  # not an ESI / stimulator / PVA order: painpa says nothing


class PAState(StrEnum):
    NOT_NEEDED = "not-needed"
    NEEDED = "needed"              # no decision on file
    SATISFIED = "satisfied"        # affirmed, unexpired, covers every PA code of the order
    NON_AFFIRMED = "non-affirmed"
    PENDED = "pended"
    EXPIRED = "expired"
    PARTIAL = "partial"            # affirmed but some of the order's PA codes are not on it
    UNKNOWN = "unknown"            # plan not configured, location unknown, or PA records unread: cannot say


@dataclass(frozen=True)
class Citation:
    source: str                    # e.g. "LCD L39240", "CMS WISeR Operational Guide v6.0"
    section: str = ""
    url: str = ""
    last_verified: str = ""        # ISO date the source was last checked
    confirmed: bool = True         # False where domain.md tags the item UNCONFIRMED


@dataclass(frozen=True)
class Evidence:
    reference: str                 # "Procedure/pt-1"
    date: str | None = None        # ISO date or dateTime as recorded
    code: str | None = None        # "system|code"
    display: str | None = None


@dataclass(frozen=True)
class RequirementResult:
    id: str                        # stable id from the policy data, e.g. "esi.conservative-care"
    title: str                     # "Conservative therapy ≥ 4 weeks"
    status: Status
    detail: str                    # what was found: "2 of 4 required weeks documented"
    fix: str                       # what to record, in the clinician's words
    citation: Citation
    evidence: tuple[Evidence, ...] = ()
    kind: str = "clinical"         # clinical | admin (maps to CRD doc-needed) | audit (never changes coverage)
    form: str | None = None        # Questionnaire id under fhir_profiles/questionnaires that fixes it
    excludes: bool = False         # unmet means not covered at all (frequency limit, non-covered code)
    topic: str = "appropriate-use"  # CRD card topic for a card about this requirement (standards.md §2.5)
    blocked_by: str | None = None  # id of an unmet requirement this one cannot pass without (no own card)


@dataclass(frozen=True)
class PriorAuthStatus:
    state: PAState
    utn: str | None = None
    decision_ref: str | None = None      # "ClaimResponse/abc"
    expires: date | None = None
    covered_codes: tuple[str, ...] = ()
    missing_codes: tuple[str, ...] = ()
    citation: Citation | None = None
    unread: tuple[str, ...] = ()         # PA record types the EHR did not return (state UNKNOWN)


@dataclass(frozen=True)
class Program:
    kind: ProgramKind
    id: str                        # policy id, e.g. "wiser", "opd-pa", "lcd", "pack:evicore-spine"
    label: str                     # "CMS WISeR (Texas)"
    citation: Citation | None = None
    approval_term: str = ""        # the program's word for the approval number: "UTN", "authorization number"
    validity_days: int | None = None   # how long an approval is valid for the date of service
    without_approval: str = ""     # what happens to the claim without one, in the program's terms


@dataclass(frozen=True)
class Determination:
    order_ref: str                               # "ServiceRequest/abc" as in draftOrders
    codes: tuple[str, ...]                       # CPT/HCPCS codes of the order
    family: str | None                           # "esi" | "scs" | "pva" | None (out of scope)
    program: Program
    covered: str                                 # covered | not-covered | conditional
    pa_needed: str | None                        # no-auth | auth-needed | satisfied | conditional | None
    prior_auth: PriorAuthStatus
    coverage_ref: str | None = None              # "Coverage/abc" used for the decision
    doc_needed: str | None = None                # clinical | admin | None
    info_needed: tuple[str, ...] = ()            # CRD info-needed codes (OTH, location, ...)
    reason: str = ""                             # free text for conditional / info-needed
    requirements: tuple[RequirementResult, ...] = ()
    companion_codes_at_risk: tuple[str, ...] = ()
    policy_version: str = ""
    notes: tuple[str, ...] = field(default=())   # extra findings, e.g. cloned-note warnings
    payer: str = ""                              # insurer name the patient recognises (card source.label)
    service_date: date | None = None             # planned date of service used for windows and validity
    state: str | None = None                     # service state (USPS code) used for program routing
    setting: str | None = None                   # office | home | hopd | asc | inpatient | ed | None
    policy_url: str = ""                         # the governing LCD/NCD/plan policy page (guideline card)
    policy_label: str = ""                       # its name, e.g. "LCD L36920 Epidural Steroid Injections ..."
    unread: tuple[str, ...] = ()                 # record types the EHR did not return that leave the plan
    #                                              unknown (("Coverage",)): every requirement unknown, none unmet

    @property
    def in_scope(self) -> bool:
        return self.program.kind is not ProgramKind.OUT_OF_SCOPE

    @property
    def unmet(self) -> tuple[RequirementResult, ...]:
        return tuple(r for r in self.requirements if r.status is not Status.MET)
