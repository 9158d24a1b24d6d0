"""Tables of the CDS service: registered clients, replay cache, appContext handles, feedback, audit.

CDS Hooks 2.0 §Security (client allowlist, ``jti`` replay), §Feedback, §Link (``appContext``);
CRD 2.2 found-37 (invocation logs). Nothing here ever holds an access token or a JWT.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cds_service.store.base import Base


class Client(Base):
    """An EHR allowed to call the service: its JWT ``iss``, keys, FHIR bases and tenant defaults."""

    __tablename__ = "cds_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iss: Mapped[str] = mapped_column(String(512), unique=True)
    tenant: Mapped[str | None] = mapped_column(String(256))
    jwks_url: Mapped[str | None] = mapped_column(String(1024))
    jwks: Mapped[dict | None] = mapped_column(JSON)  # public JWK Set, stored at registration
    fhir_bases: Mapped[list] = mapped_column(JSON, default=list)
    smart_client_id: Mapped[str | None] = mapped_column(String(256))
    default_state: Mapped[str | None] = mapped_column(String(2))
    default_pos: Mapped[str | None] = mapped_column(String(4))
    crd_version: Mapped[str | None] = mapped_column(String(8))   # answered when a request names none
    # The tenant's values for windows that are painpa's own choice: {"esi.active-program.within_days": 60}
    policy_windows: Mapped[dict | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SeenJti(Base):
    """JWT ids already accepted, kept until the token could no longer be valid (shared by workers)."""

    __tablename__ = "cds_seen_jti"
    __table_args__ = (UniqueConstraint("iss", "jti", name="uq_seen_jti"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iss: Mapped[str] = mapped_column(String(512))
    jti: Mapped[str] = mapped_column(String(256))
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AppLink(Base):
    """An opaque, single-use ``appContext`` handle and what it stands for (no tokens, ever)."""

    __tablename__ = "cds_app_links"

    handle: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict] = mapped_column(JSON)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    redeemed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    """One feedback item; (service, card, outcome, timestamp) identifies it so repeats are idempotent."""

    __tablename__ = "cds_feedback"
    __table_args__ = (UniqueConstraint("service_id", "card", "outcome", "outcome_ts", name="uq_feedback"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(128))
    iss: Mapped[str] = mapped_column(String(512))
    card: Mapped[str] = mapped_column(String(128), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    outcome_ts: Mapped[str] = mapped_column(String(64))
    accepted_suggestions: Mapped[list] = mapped_column(JSON, default=list)
    override_code: Mapped[str | None] = mapped_column(String(256))
    override_system: Mapped[str | None] = mapped_column(String(512))
    user_comment: Mapped[str | None] = mapped_column(Text)
    received: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """One row per hook invocation. The patient reference is a salted SHA-256, never the id itself."""

    __tablename__ = "cds_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    hook_instance: Mapped[str | None] = mapped_column(String(128), index=True)
    service_id: Mapped[str] = mapped_column(String(128))
    hook: Mapped[str | None] = mapped_column(String(64))
    iss: Mapped[str | None] = mapped_column(String(512))
    patient_hash: Mapped[str | None] = mapped_column(String(64))
    order_codes: Mapped[list] = mapped_column(JSON, default=list)
    determinations: Mapped[list] = mapped_column(JSON, default=list)
    card_uuids: Mapped[list] = mapped_column(JSON, default=list)
    latency_ms: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)
    incomplete: Mapped[list] = mapped_column(JSON, default=list)
    # The call's X-Request-Id (cds_service/security/request_ids.py): the key to its log lines.
    request_id: Mapped[str | None] = mapped_column(String(128))
    # FHIR requests the call sent (cds_service/fhir/reads.py); None for a call refused before reading.
    fhir_reads: Mapped[int | None] = mapped_column(Integer)


class ChartWrite(Base):
    """When painpa's own SMART app last wrote to a patient's chart on a FHIR server (a form saved),
    so that an order-sign's warm cache read before it is not used (cds_service/fhir/warm.py). The
    chart is a salted SHA-256 of base and patient, never the id itself; rows older than the warm
    cache's life are purged (cds_service/retention.py)."""

    __tablename__ = "cds_chart_writes"

    chart_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    written: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
