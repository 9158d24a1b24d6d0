"""SMART configuration discovery (SMART App Launch 2.2 ``conformance.md``; standards.md §5.1, CC-60).

``{iss}/.well-known/smart-configuration`` is fetched only for an ``iss`` that the operator
registered; a server that does not offer PKCE ``S256`` is refused, and relative endpoint URLs are
resolved against ``iss``. The answer decides the scope dialect (v2, or v1 when the server lists
only v1 scopes) and the client authentication method.

The fetch goes through the SSRF egress guard (:data:`http`, a
:func:`cds_service.fhir.client.new_session` session; docs/security.md "Outbound requests"): an
``iss`` registered as an IP literal is reached as registered, a registered host name must resolve to
public addresses (or a network in ``PAINPA_EGRESS_ALLOW_NETWORKS``), cloud metadata never, and the
connection is pinned to the checked address so DNS rebinding cannot turn it inward. A refusal is
the launch error page (502), naming the reason, never a 500.

Both endpoints, and the ``iss`` itself, must read the same to ``urllib.parse`` and to urllib3 (no
userinfo, backslash, whitespace or control characters: :func:`cds_service.security.egress.strict_origin`):
otherwise the checks here and in :func:`smart_app.oauth.admit_token_endpoint` would judge one host
while the request (or the browser) went to another.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

from cds_service.fhir.client import new_session
from cds_service.security import egress
from cds_service.security.egress import refused_reason

# One guarded session for the app's OAuth traffic (discovery here, token requests in smart_app.oauth).
http = new_session(pool_size=8)


class LaunchError(Exception):
    """A launch cannot proceed; ``message`` is shown to the user as is (no secrets in it)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SmartConfig:
    authorization_endpoint: str
    token_endpoint: str
    scopes_supported: tuple[str, ...]
    capabilities: tuple[str, ...]
    auth_methods: tuple[str, ...]

    @property
    def scope_version(self) -> str:
        """"v2" unless the server says it speaks only v1 (SMART 2.2 §Scopes: permission-v1/v2)."""
        caps = set(self.capabilities)
        if "permission-v2" in caps:
            return "v2"
        if self.scopes_supported:
            v2 = any(_is_v2(s) for s in self.scopes_supported)
            v1 = any(s.endswith((".read", ".write", ".*")) for s in self.scopes_supported)
            if v1 and not v2:
                return "v1"
        if "permission-v1" in caps:
            return "v1"
        return "v2"


def _is_v2(scope: str) -> bool:
    base = scope.split("?", 1)[0]
    if "/" not in base or "." not in base:
        return False
    suffix = base.rsplit(".", 1)[1]
    return bool(suffix) and set(suffix) <= set("cruds")


def _endpoint(iss: str, value, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise LaunchError(f"The EHR's SMART configuration has no {name}; ask the EHR administrator.", 502)
    url = urljoin(iss.rstrip("/") + "/", value)
    if urlsplit(url).scheme not in ("http", "https"):
        raise LaunchError(f"The EHR's {name} {value!r} is not an http(s) URL.", 502)
    try:
        if egress.ambiguous_chars(value):  # refused as written: urljoin may have dropped a tab or newline
            egress.strict_origin(value)
        egress.strict_origin(url)
    except egress.EgressRefused as exc:
        raise LaunchError(f"The EHR's {name} is refused: {exc}; ask the EHR administrator.", 502) from None
    return url


def _strings(value) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def parse_config(iss: str, doc) -> SmartConfig:
    if not isinstance(doc, dict):
        raise LaunchError("The EHR's .well-known/smart-configuration is not a JSON object.", 502)
    methods = _strings(doc.get("code_challenge_methods_supported"))
    if "S256" not in methods:
        # CC-60: PKCE S256 is mandatory in SMART 2.x; without it the code could be intercepted.
        raise LaunchError(
            "The EHR's authorization server does not support PKCE S256 "
            "(code_challenge_methods_supported lacks S256); painpa refuses to launch.",
            502,
        )
    return SmartConfig(
        authorization_endpoint=_endpoint(iss, doc.get("authorization_endpoint"), "authorization_endpoint"),
        token_endpoint=_endpoint(iss, doc.get("token_endpoint"), "token_endpoint"),
        scopes_supported=_strings(doc.get("scopes_supported")),
        capabilities=_strings(doc.get("capabilities")),
        auth_methods=_strings(doc.get("token_endpoint_auth_methods_supported")),
    )


def discover(iss: str, timeout: tuple[float, float] = (2.0, 5.0)) -> SmartConfig:
    try:
        _, host, _ = egress.strict_origin(iss)
    except egress.EgressRefused as exc:
        raise LaunchError(f"painpa does not connect to this EHR's server: {exc}; ask the administrator.", 502) from None
    url = iss.rstrip("/") + "/.well-known/smart-configuration"
    try:
        with egress.registered_hosts(host):
            resp = http.get(url, headers={"Accept": "application/json"}, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        if why := refused_reason(exc):
            raise LaunchError(f"painpa does not connect to this EHR's server: {why} "
                              "(see PAINPA_EGRESS_ALLOW_NETWORKS); ask the administrator.", 502) from None
        raise LaunchError("The EHR's SMART configuration could not be reached; try again shortly.", 502) from None
    if resp.status_code != 200:
        raise LaunchError(f"The EHR's SMART configuration answered HTTP {resp.status_code}.", 502)
    try:
        doc = resp.json()
    except ValueError:
        raise LaunchError("The EHR's .well-known/smart-configuration is not JSON.", 502) from None
    return parse_config(iss, doc)
