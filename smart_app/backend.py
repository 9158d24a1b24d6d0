"""painpa as a SMART Backend Services client of a payer's API (SMART App Launch 2.2
backend-services.md): the bearer token its Da Vinci PAS requests carry.

1. Discovery (§"Retrieve .well-known/smart-configuration"): ``{payer base}/.well-known/smart-configuration``,
   fetched only for a base the operator registered (the caller checks) through the egress guard.
   A payer whose document is absent or lists no ``client_credentials`` grant is called without a token.
2. Token (§"Obtain access token"): ``grant_type=client_credentials``, ``system/`` scopes, a one-time
   ``private_key_jwt`` assertion signed with painpa's own key (the key behind its JWKS URL), sent only
   to a token endpoint :func:`smart_app.oauth.admit_token_endpoint` admits. The client id is the one
   registered for that base (``painpa clients add … --smart-client-id``).
3. The token is kept in memory until a minute before it expires (backend tokens live about five
   minutes) and is never logged.
"""

from __future__ import annotations

import threading
import time

import requests

from cds_service.security import egress
from smart_app import keys
from smart_app.discovery import LaunchError, http
from smart_app.oauth import admit_token_endpoint
from smart_app.registry import smart_client_for

PAS_SCOPES = "system/Claim.cr system/ClaimResponse.rs system/Bundle.r system/Subscription.crd"
TIMEOUT = (2.0, 10.0)
_SKEW_S = 60
_cache: dict[tuple[str, str], tuple[str, float]] = {}
_lock = threading.Lock()


def _token_endpoint(base: str) -> str | None:
    """The payer's token endpoint when it offers backend services; None when it protects nothing."""
    host = egress.strict_origin(base)[1]
    try:
        with egress.registered_hosts(host):
            resp = http.get(base.rstrip("/") + "/.well-known/smart-configuration", timeout=TIMEOUT,
                            headers={"Accept": "application/json"}, allow_redirects=False)
    except requests.RequestException:
        raise LaunchError("The payer's SMART configuration could not be reached; nothing was sent.", 502) from None
    if resp.status_code in (404, 410):
        return None
    try:
        doc = resp.json() if resp.status_code == 200 else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise LaunchError(f"The payer's SMART configuration is unreadable (HTTP {resp.status_code}).", 502)
    if "client_credentials" not in (doc.get("grant_types_supported") or ()):
        return None
    endpoint = doc.get("token_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise LaunchError("The payer's SMART configuration names no token endpoint.", 502)
    admit_token_endpoint(base, endpoint, resolve=True)
    return endpoint


def _request_token(db, settings, base: str, client_id: str, endpoint: str) -> tuple[str, float]:
    data = {"grant_type": "client_credentials", "scope": PAS_SCOPES,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": keys.client_assertion(db, settings, client_id, endpoint)}
    try:
        with egress.registered_hosts(egress.strict_origin(base)[1]):
            resp = http.post(endpoint, data=data, timeout=TIMEOUT, allow_redirects=False,
                             headers={"Accept": "application/json"})
        body = resp.json()
    except (requests.RequestException, ValueError):
        raise LaunchError("The payer's token endpoint did not answer; nothing was sent to the payer.", 502) from None
    if resp.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        code = body.get("error") if isinstance(body, dict) else None
        raise LaunchError(f"The payer refused painpa's token request ({code or 'HTTP ' + str(resp.status_code)}); "
                          "ask the payer to register painpa as a backend-services client.", 502)
    try:
        lifetime = float(body.get("expires_in", 300))
    except (TypeError, ValueError):
        lifetime = 300.0
    return body["access_token"], time.time() + max(lifetime, 0.0)


def payer_headers(db, settings, base: str) -> dict[str, str]:
    """``{"Authorization": "Bearer …"}`` for a payer API that requires backend services, else ``{}``."""
    client = smart_client_for(db, base, settings)
    if client is None:
        return {}
    key = (client.iss, client.client_id)
    with _lock:
        cached = _cache.get(key)
    if cached is None or cached[1] - time.time() <= _SKEW_S:
        endpoint = _token_endpoint(client.iss)
        if endpoint is None:
            return {}
        cached = _request_token(db, settings, client.iss, client.client_id, endpoint)
        with _lock:
            _cache[key] = cached
    return {"Authorization": f"Bearer {cached[0]}"}


def forget(base: str) -> None:
    """Drop the cached token for ``base`` (the payer answered 401: restarted, or the token revoked)."""
    with _lock:
        for key in [k for k in _cache if k[0].rstrip("/") == base.rstrip("/")]:
            _cache.pop(key, None)
