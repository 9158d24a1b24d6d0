"""``private_key_jwt`` client authentication (SMART App Launch 2.2 §"Asymmetric (public key)
client authentication"; RFC 7523 §2.2), verified with joserfc.

The assertion's ``iss`` and ``sub`` are the client id, ``aud`` is the token endpoint, ``exp`` at
most five minutes ahead, ``jti`` unseen; the key comes from the client's registered JWKS or JWKS
URL (fetched only from that registered URL, never from a ``jku`` header).
"""

from __future__ import annotations

import json
import threading
import time

import requests
from cachetools import TTLCache
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["ES384", "RS384", "ES256", "RS256"]


class PrivateKeyJwt:
    def __init__(self, token_endpoint: str) -> None:
        self.token_endpoint = token_endpoint
        self._jwks: TTLCache = TTLCache(maxsize=64, ttl=60)
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, query_client, request):
        form = request.form
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            return None
        assertion = form["client_assertion"]
        try:  # which client: read iss before choosing its key; the signature is checked below
            client_id = _unverified_iss(jws.extract_compact(assertion.encode()).payload)
        except (JoseError, ValueError, KeyError):
            return None
        client = query_client(client_id) if client_id else None
        if client is None or client.auth_method != "private_key_jwt":
            return None
        try:
            token = jwt.decode(assertion, self._keys(client), algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": client_id}, sub={"essential": True, "value": client_id},
                aud={"essential": True, "value": self.token_endpoint}, exp={"essential": True},
                jti={"essential": True}, leeway=60,
            ).validate(token.claims)
        except (JoseError, ValueError, requests.RequestException):
            return None
        if token.claims["exp"] > time.time() + 300 + 60 or not self._first_use(client_id, token.claims):
            return None
        return client

    def _keys(self, client) -> KeySet:
        if client.jwks:
            return KeySet.import_key_set(client.jwks)
        if not client.jwks_uri:
            raise ValueError("client has no keys")
        cached = self._jwks.get(client.jwks_uri)
        if cached is None:
            resp = requests.get(client.jwks_uri, timeout=3, allow_redirects=False)
            resp.raise_for_status()
            cached = resp.json()
            self._jwks[client.jwks_uri] = cached
        return KeySet.import_key_set(cached)

    def _first_use(self, client_id: str, claims: dict) -> bool:
        now = time.time()
        key = f"{client_id} {claims['jti']}"
        with self._lock:
            self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            if key in self._seen:
                return False
            self._seen[key] = float(claims["exp"]) + 60
        return True


def _unverified_iss(payload: bytes) -> str | None:
    data = json.loads(payload)
    iss = data.get("iss")
    return iss if isinstance(iss, str) and iss == data.get("sub") else None
