"""SMART scopes v1 and v2 (SMART App Launch 2.2 §"Scopes and Launch Context"): what a token may do,
read by the authorization server (which scopes a client may be granted) and by the FHIR server
(what a request may do).

``patient/Observation.rs`` (v2) and ``patient/Observation.read`` (v1) both grant read+search;
v1 ``.write`` is ``cud``; ``.*`` is ``cruds``. Search-parameter filters on scopes (v2
``?category=...``) are not enforced here and are refused at authorization time instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True)
class ResourceScope:
    level: str
    resource_type: str
    perms: str


def parse(scope: str) -> list[ResourceScope]:
    out = []
    for item in scope.split():
        m = _SCOPE.match(item)
        if m and m.group(3):
            out.append(ResourceScope(m.group(1), m.group(2), _V1.get(m.group(3), m.group(3))))
    return out


def valid_scope_item(item: str) -> bool:
    if item in ("launch", "launch/patient", "launch/encounter", "openid", "fhirUser", "profile",
                "offline_access", "online_access"):
        return True
    return bool(_SCOPE.match(item))


def access(scope: str, resource_type: str, op: str) -> str | None:
    """'all' when a user/system scope grants ``op`` on the type, 'patient' when only a patient scope
    does (the caller then restricts to the launch patient), None when nothing grants it."""
    levels = {s.level for s in parse(scope)
              if s.resource_type in ("*", resource_type) and op in s.perms}
    if levels & {"user", "system"}:
        return "all"
    return "patient" if "patient" in levels else None
