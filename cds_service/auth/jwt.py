"""Verification of the CDS client JWT (CDS Hooks 2.0 §Trusting CDS Clients; standards.md §1.9, §8).

Order matters: nothing is fetched before the ``iss`` is found on the allowlist, and a ``jku`` is
honoured only when it is exactly the JWKS URL registered for that ``iss``. Only ES384 and RS384
are accepted: ``none`` and HMAC are refused by construction. Every failure is one exception with
a reason for the server log; the HTTP answer is a bare 401.
"""

from __future__ import annotations

import json
import logging
import math
import time

from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError

from cds_service import shared
from cds_service.auth import jwks
from cds_service.auth.replay import first_use
from cds_service.clients import ClientInfo, get_client
from cds_service.config import Settings
from cds_service.store.base import Database

ALGORITHMS = ("ES384", "RS384")
MAX_TOKEN_BYTES = 8 * 1024
log = logging.getLogger(__name__)


class AuthError(Exception):
    """Authentication failed. ``str(exc)`` is a reason safe to log (never the token);
    ``claimed_iss`` is the ``iss`` the token claimed, unverified (a forger writes what it likes),
    when its payload could be read: for the log line only, cut to 256 characters."""

    claimed_iss: str | None = None


def _instant(value: object) -> bool:
    """A NumericDate (RFC 7519 §2) that arithmetic with ``time.time()`` can use. JSON parsers accept
    ``NaN`` (it compares false with everything, so it would pass every expiry check) and integers
    too large for a float (``exp - now`` would raise)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _claims_ok(claims: dict, client: ClientInfo, audience: str, settings: Settings) -> None:
    now = time.time()
    leeway = settings.jwt_leeway_s
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if audience not in auds:
        raise AuthError("aud does not name this endpoint")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _instant(exp) or exp + leeway < now:
        raise AuthError("exp missing or past")
    if not _instant(iat) or iat - leeway > now:
        raise AuthError("iat missing or in the future")
    if exp - now > settings.jti_ttl_s:
        raise AuthError("token lifetime longer than the replay window")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf - leeway > now:
        raise AuthError("nbf in the future")
    if not isinstance(claims.get("jti"), str) or not claims["jti"] or len(claims["jti"]) > 256:
        raise AuthError("jti missing")
    tenant = claims.get("tenant")
    if client.tenant and tenant is not None and tenant != client.tenant:
        raise AuthError("tenant not registered for this iss")


def authenticate(db: Database, settings: Settings, authorization: str | None, audience: str) -> ClientInfo:
    """Verify ``Authorization: Bearer <JWT>`` for ``audience`` and return the calling client."""
    token, header, payload = _parse(authorization)
    try:
        return _verify(db, settings, token, header, payload, audience)
    except AuthError as exc:
        iss = payload.get("iss")
        exc.claimed_iss = iss[:256] if isinstance(iss, str) and iss else None
        raise


def _parse(authorization: str | None) -> tuple[str, dict, dict]:
    """The token, its header and its payload, unverified; the payload is a JSON object."""
    if not authorization or not authorization.startswith("Bearer "):
        raise AuthError("no bearer token")
    token = authorization[len("Bearer "):].strip()
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise AuthError("empty or oversized token")
    try:
        unverified = jws.extract_compact(token.encode("ascii"))
        header = unverified.headers()
        payload = json.loads(unverified.payload)
    except (JoseError, ValueError, UnicodeError, RecursionError) as exc:  # RecursionError: a nested-array bomb
        raise AuthError(f"malformed token: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise AuthError("iss missing")
    return token, header, payload


def _verify(db: Database, settings: Settings, token: str, header: dict, payload: dict, audience: str) -> ClientInfo:
    if header.get("alg") not in ALGORITHMS:
        raise AuthError("algorithm not accepted")
    if header.get("typ") is not None and str(header["typ"]).upper() != "JWT":
        raise AuthError("typ is not JWT")
    if not isinstance(payload.get("iss"), str):
        raise AuthError("iss missing")
    client = get_client(db, payload["iss"])
    if client is None:
        raise AuthError("iss not registered")
    jku = header.get("jku")
    if jku is not None and jku != client.jwks_url:
        raise AuthError("jku not registered for this iss")
    timeout = (settings.fhir_connect_timeout_s, settings.fhir_read_timeout_s)
    try:
        keys = jwks.key_set(client, header.get("kid"), timeout, shared.cache_for(settings.redis_url))
        verified = jose_jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except jwks.JwksUnavailable as exc:
        raise AuthError(f"JWKS unavailable: {exc}") from None
    except (JoseError, ValueError) as exc:
        raise AuthError(f"signature: {type(exc).__name__}") from None
    claims = dict(verified.claims)
    if claims.get("iss") != client.iss:
        raise AuthError("iss changed")
    _claims_ok(claims, client, audience, settings)
    if not first_use(db, client.iss, claims["jti"], int(claims["exp"]), settings.jwt_leeway_s):
        raise AuthError("jti replayed")
    return client
