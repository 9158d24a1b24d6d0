"""Response headers for a page that lives inside an EHR iframe (SMART App Launch 2.2 "App
protection"; CSP Level 2 ``frame-ancestors``; standards.md §5.5).

No ``X-Frame-Options: DENY`` (the EHR must be able to frame the app); instead ``frame-ancestors``
lists the origins of the registered FHIR bases, i.e. the EHRs painpa was registered with. Scripts and
styles come only from the app itself; pages are never cached and never leak their URL (which holds
the session id) through ``Referer``.
"""

from __future__ import annotations

import time

from cds_service import state
from smart_app.registry import registered_origins

_origins_cache: dict[int, tuple[float, list[str]]] = {}
TTL_S = 30.0


def _origins() -> list[str]:
    db = state.current().db
    hit = _origins_cache.get(id(db))
    if hit and hit[0] > time.monotonic():
        return hit[1]
    origins = registered_origins(db)
    _origins_cache[id(db)] = (time.monotonic() + TTL_S, origins)
    return origins


def headers(resp):
    ancestors = " ".join(["'self'", *_origins()])
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"object-src 'none'; base-uri 'none'; frame-ancestors {ancestors}"
    )
    resp.headers.pop("X-Frame-Options", None)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers.setdefault("Cache-Control", "no-store")  # the JWKS view sets its own
    return resp
