"""Server-side SMART state (SMART App Launch 2.2 "App protection"; standards.md §5.5, §8.14):
pending authorizations keyed by ``state`` (single use, bound to the browser session) and app
sessions holding the tokens. The browser only ever holds an opaque session cookie.

Secrets that arrive from the browser (state, session id) are stored as SHA-256 digests, so a
database read does not let anyone replay them. painpa's own keys (RFC 7517 JWK; smart_app/keys.py) are
kept here too, so that every instance signs, publishes and seals with the same ones.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, UniqueConstraint
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


class SmartKey(Base):
    """One of painpa's own keys (smart_app/keys.py): the SMART client signing key (``key_use`` "sig",
    RFC 7517 §4.2) or a seal key for the EHR tokens at rest ("enc"). The private JWK is stored only as
    a JWE encrypted with a key derived from ``PAINPA_SECRET_KEY``, and erased once the key is retired;
    a signing key's public JWK is stored as published.

    ``generation`` numbers the keys of one use in the order they were made current: the unique pair
    (use, generation) lets only one of several instances starting at once create the first key, and
    only one of two concurrent rotations win. A key imported from another instance's ``PAINPA_HOME``
    after the first one has no generation and is never current."""

    __tablename__ = "smart_keys"
    __table_args__ = (UniqueConstraint("key_use", "generation", name="uq_smart_keys_use_generation"),)

    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    key_use: Mapped[str] = mapped_column(String(8))
    generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    public_jwk: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    private_jwe: Mapped[str | None] = mapped_column(Text, nullable=True)
    origin: Mapped[str] = mapped_column(String(16))          # "generated" or "imported" (a PAINPA_HOME file)
    created: Mapped[datetime] = mapped_column(DateTime)       # UTC
    not_before: Mapped[datetime] = mapped_column(DateTime)    # UTC; current from then (a rotated signing key later)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # UTC; unpublished, unreadable from then


class SmartClientSecret(Base):
    """The client secret an EHR's authorization server issued to the painpa app, for EHRs that
    require ``client_secret_basic`` / ``client_secret_post`` (SMART App Launch 2.2
    ``client-confidential-symmetric``): per FHIR base, sealed with a key derived from the secret key
    (:mod:`smart_app.registry`), so every instance reads it and a reader of the table cannot."""

    __tablename__ = "smart_client_secrets"

    fhir_base: Mapped[str] = mapped_column(String(1024), primary_key=True)
    sealed: Mapped[str] = mapped_column(Text)
    updated: Mapped[datetime] = mapped_column(DateTime)
