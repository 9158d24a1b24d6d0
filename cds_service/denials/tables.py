"""Tables of payer decisions and their specific reasons (CMS-0057-F, domain.md §3: "payers must
give a specific reason for a denial"), and of payers' public prior-authorization metrics (CMS-0057-F
public reporting).

No patient identifier is stored: a decision keeps a salted hash of its patient reference, enough to
count, never enough to look anyone up.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cds_service.store.base import Base


class Decision(Base):
    """One payer decision on one service line: a PA decision (PAS ClaimResponse, portal letter) or a
    claim decision (remittance). ``source_key`` makes every import idempotent."""

    __tablename__ = "ins_decision"
    __table_args__ = (UniqueConstraint("source", "source_key", name="uq_ins_decision_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))            # pas | csv
    source_key: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))              # prior-auth | claim
    payer: Mapped[str] = mapped_column(String(256), index=True)   # normalised key (casefolded)
    payer_label: Mapped[str] = mapped_column(String(256))
    plan: Mapped[str] = mapped_column(String(256), default="", index=True)
    plan_label: Mapped[str] = mapped_column(String(256), default="")
    program: Mapped[str] = mapped_column(String(128), default="")
    code: Mapped[str] = mapped_column(String(16), index=True)
    clinician: Mapped[str] = mapped_column(String(256), default="", index=True)
    clinician_label: Mapped[str] = mapped_column(String(256), default="")
    outcome: Mapped[str] = mapped_column(String(16), index=True)  # affirmed | denied | partial | pended
    appeal_outcome: Mapped[str] = mapped_column(String(16), default="")  # "" | affirmed | denied
    expedited: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided: Mapped[date] = mapped_column(Date, index=True)
    decision_hours: Mapped[float | None] = mapped_column(Float)
    patient_hash: Mapped[str] = mapped_column(String(64), default="")
    imported: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    reasons: Mapped[list[DenialReason]] = relationship(
        back_populates="decision", cascade="all, delete-orphan", lazy="selectin"
    )


class DenialReason(Base):
    """One specific reason given with a decision, and the policy requirement it was mapped to (or
    none: then it is listed for review on the dashboard)."""

    __tablename__ = "ins_denial_reason"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("ins_decision.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    carc: Mapped[str] = mapped_column(String(64), default="")   # space-separated X12 CARC codes
    rarc: Mapped[str] = mapped_column(String(64), default="")   # space-separated X12 RARC codes
    requirement: Mapped[str | None] = mapped_column(String(128), index=True)
    rule: Mapped[str | None] = mapped_column(String(128))

    decision: Mapped[Decision] = relationship(back_populates="reasons")


class PayerMetric(Base):
    """One row of a payer's public CMS-0057-F prior-authorization report (one payer, plan, year)."""

    __tablename__ = "ins_payer_metric"
    __table_args__ = (UniqueConstraint("payer", "plan", "year", name="uq_ins_payer_metric"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payer: Mapped[str] = mapped_column(String(256), index=True)
    payer_label: Mapped[str] = mapped_column(String(256))
    plan: Mapped[str] = mapped_column(String(256), default="")
    plan_label: Mapped[str] = mapped_column(String(256), default="")
    year: Mapped[int] = mapped_column(Integer)
    pct_approved: Mapped[float | None] = mapped_column(Float)
    pct_denied: Mapped[float | None] = mapped_column(Float)
    pct_approved_after_appeal: Mapped[float | None] = mapped_column(Float)
    median_hours_standard: Mapped[float | None] = mapped_column(Float)
    median_hours_expedited: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(512), default="")
    imported: Mapped[datetime] = mapped_column(DateTime(timezone=True))
