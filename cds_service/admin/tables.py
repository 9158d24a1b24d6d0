"""The dashboard's users (only a werkzeug password hash is kept, :mod:`cds_service.admin.auth`) and
their server-side sessions (:mod:`cds_service.admin.sessions`)."""

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


class AdminSession(Base):
    """A dashboard session (:mod:`cds_service.admin.sessions`): the SHA-256 of its opaque id, its
    content as JSON (user, CSRF token, flashed messages) and when it ends."""

    __tablename__ = "ins_admin_session"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
