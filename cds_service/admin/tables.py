"""The dashboard's users: only a werkzeug password hash is kept (:mod:`cds_service.admin.auth`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cds_service.store.base import Base


class AdminUser(Base):
    """A dashboard user. Only a werkzeug password hash is kept."""

    __tablename__ = "ins_admin_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
