"""Access and refresh tokens of the sandbox authorization server (SMART App Launch 2.2 §"Obtain
access token"; RFC 6749 §5.1). Tokens are random strings; only their SHA-256 is stored. The
authorization server (``sandbox.auth``) stores what it issues here; the FHIR server and the payer
check bearer tokens with ``introspect``.

``issue_direct`` is how the EHR itself mints the short-lived ``fhirAuthorization`` token for a CDS
Hooks call (CDS Hooks 2.0 §"Passing the Access Token to the CDS Service"): same table, same
checks at the FHIR server, no shortcut.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sandbox.tables import Token


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    client_id: str
    scope: str
    context: dict
    user: str

    @property
    def patient(self) -> str | None:
        return self.context.get("patient")


def store_token(s, token: dict, client_id: str, user: str, context: dict) -> None:
    s.add(Token(
        access_sha256=digest(token["access_token"]),
        refresh_sha256=digest(token["refresh_token"]) if token.get("refresh_token") else None,
        client_id=client_id, scope=token.get("scope", ""), context=context, user=user,
        issued=datetime.now(UTC), expires_in=int(token["expires_in"]), revoked=False,
    ))


def issue_direct(db, *, client_id: str, scope: str, context: dict, user: str, expires_in: int) -> dict:
    token = {"access_token": secrets.token_urlsafe(32), "token_type": "Bearer", "expires_in": expires_in,
             "scope": scope}
    with db.session() as s:
        store_token(s, token, client_id, user, context)
    return token


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def introspect(db, access_token: str) -> TokenInfo | None:
    with db.session() as s:
        row = s.get(Token, digest(access_token))
        if row is None or row.revoked:
            return None
        if _aware(row.issued) + timedelta(seconds=row.expires_in) <= datetime.now(UTC):
            return None
        return TokenInfo(row.client_id, row.scope, dict(row.context or {}), row.user)


def revoke(db, access_token: str) -> None:
    with db.session() as s:
        row = s.get(Token, digest(access_token))
        if row is not None:
            row.revoked = True
