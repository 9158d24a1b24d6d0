"""Tables of the sandbox EHR: the FHIR R4 resource store and the SMART authorization server's state.

FHIR R4 RESTful API §3.1.0 (resources are versioned, ``meta.versionId`` / ``meta.lastUpdated``);
SMART App Launch 2.2 §App Launch (clients, authorization codes, launch contexts, tokens). Tokens,
codes and client secrets are stored as SHA-256 digests only: a copy of the database is no key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cds_service.store.base import Base


class FhirResource(Base):
    """The current version of one resource. ``patient_id`` indexes the Patient compartment so that
    the searches painpa issues (``?patient=``) read a few rows, not the whole table."""

    __tablename__ = "sbx_fhir_resource"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)


class OAuthClient(Base):
    """A SMART client of the sandbox authorization server (the painpa app, the CDS service, tests)."""

    __tablename__ = "sbx_oauth_client"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    auth_method: Mapped[str] = mapped_column(String(32))  # private_key_jwt | client_secret_basic | none
    secret_sha256: Mapped[str | None] = mapped_column(String(64))
    jwks_uri: Mapped[str | None] = mapped_column(String(1024))
    jwks: Mapped[dict | None] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(Text, default="")
    launch_uri: Mapped[str | None] = mapped_column(String(1024))


class LaunchContext(Base):
    """What an EHR launch id stands for: patient, encounter, fhirContext, appContext (SMART 2.2 §5.4)."""

    __tablename__ = "sbx_launch"

    launch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    context: Mapped[dict] = mapped_column(JSON)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuthCode(Base):
    __tablename__ = "sbx_auth_code"

    code_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(String(1024))
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(16))
    context: Mapped[dict] = mapped_column(JSON)
    user: Mapped[str] = mapped_column(String(128))
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Token(Base):
    __tablename__ = "sbx_token"

    access_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    refresh_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(Text)
    context: Mapped[dict] = mapped_column(JSON)
    user: Mapped[str] = mapped_column(String(128))
    issued: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_in: Mapped[int] = mapped_column(Integer)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


# --- How each SMART client came to be registered, and which grants it may use (RFC 7591 §2 client
# metadata: ``grant_types``). A table beside OAuthClient rather than new columns on it, so that a sandbox
# database made by an earlier release (whose tables ``create_all`` does not alter) keeps working; a
# client without a row here is read with the grants its redirect URIs imply (sandbox.auth.apps).

class ClientRegistration(Base):
    __tablename__ = "sbx_client_registration"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)  # authorization_code, refresh_token, client_credentials
    source: Mapped[str] = mapped_column(String(16))                 # setup | cli | dynamic
    registered: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client_metadata: Mapped[dict] = mapped_column(JSON, default=dict)  # as registered (RFC 7591 §3.2.1 echo)
