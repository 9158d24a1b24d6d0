"""Tables of the security layer: per-client request counters shared by every worker and host
(standards.md §8.15 resource limits: one limit per client, whichever worker or host answers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cds_service.store.base import Base


class RateCounter(Base):
    """Requests of one client in one fixed window; ``key`` = hashed iss + window number."""

    __tablename__ = "sec_rate_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
