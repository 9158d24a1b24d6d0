"""Server-side SMART state (SMART App Launch 2.2 "App protection"; standards.md §5.5, §8.14):
pending authorizations keyed by ``state`` (single use, bound to the browser session) and app
sessions holding the tokens. The browser only ever holds an opaque session cookie.

Secrets that arrive from the browser (state, session id) are stored as SHA-256 digests, so a
database read does not let anyone replay them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cds_service.store.base import Base


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SmartPendingLaunch(Base):
    """One authorize redirect in flight: what the callback needs, and whether it was used."""

    __tablename__ = "smart_pending_launch"

    state_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_digest: Mapped[str] = mapped_column(String(64), index=True)
    iss: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(255))
    launch: Mapped[str | None] = mapped_column(Text, nullable=True)
    code_verifier: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    token_endpoint: Mapped[str] = mapped_column(Text)
    auth_method: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class SmartSession(Base):
    """An authorized app session: tokens, launch context and what the card's handle resolved to."""

    __tablename__ = "smart_session"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_digest: Mapped[str] = mapped_column(String(64), index=True)
    iss: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(255))
    token_endpoint: Mapped[str] = mapped_column(Text)
    auth_method: Mapped[str] = mapped_column(String(40))
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[float] = mapped_column(Float)
    scope: Mapped[str] = mapped_column(Text, default="")
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    card: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    refreshes: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime)
