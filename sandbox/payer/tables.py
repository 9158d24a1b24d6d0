"""The sandbox payer's own records (sandbox database only, ``sbx_`` tables, no product migration):
its decisions, keyed by what a PAS inquiry matches on (PAS 2.2.1 §"Inquiry": patient, provider,
trace numbers, UTN, item codes), and the topic-based Subscriptions of its clients (Subscriptions R4
Backport IG §"Subscription": criteria = the PAS topic, channel rest-hook, payload content)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cds_service.store.base import Base


class PayerDecision(Base):
    __tablename__ = "sbx_payer_decision"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)        # the ClaimResponse id
    request: Mapped[dict] = mapped_column(JSON)                           # the PAS request Bundle as received
    response: Mapped[dict] = mapped_column(JSON)                          # the current PAS response Bundle
    keys: Mapped[dict] = mapped_column(JSON)                              # inquiry keys (see views.inquiry_keys)
    ehr_claim_response: Mapped[str | None] = mapped_column(String(64))   # copy in the sandbox FHIR server
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    follow_up: Mapped[dict | None] = mapped_column(JSON)                 # the pended rule's final decision
    final: Mapped[bool] = mapped_column(Boolean, default=True)


class PayerSubscription(Base):
    __tablename__ = "sbx_payer_subscription"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict] = mapped_column(JSON)
    endpoint: Mapped[str] = mapped_column(String(1024))
    content: Mapped[str] = mapped_column(String(16))                      # empty | id-only | full-resource
    org_identifier: Mapped[str | None] = mapped_column(String(256))      # filter orgIdentifier=…
    status: Mapped[str] = mapped_column(String(16))                       # active | error | off
    events: Mapped[int] = mapped_column(Integer, default=0)
