"""EHR launch ids (SMART App Launch 2.2 §"Launch App: EHR Launch"): an opaque, short-lived value
the EHR puts in ``launch_url?iss=...&launch=...`` and the authorization server resolves back to
the launch context it returns with the token (patient, encounter, fhirContext, appContext; §5.4).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sandbox.tables import LaunchContext

LAUNCH_TTL_S = 600
_KEYS = ("patient", "encounter", "fhirContext", "appContext", "need_patient_banner", "smart_style_url", "intent")


def create(db, context: dict) -> str:
    launch_id = secrets.token_urlsafe(18)
    clean = {k: v for k, v in context.items() if k in _KEYS and v not in (None, "", [])}
    with db.session() as s:
        s.add(LaunchContext(launch_id=launch_id, context=clean,
                            expires=datetime.now(UTC) + timedelta(seconds=LAUNCH_TTL_S)))
    return launch_id


def resolve(db, launch_id: str) -> dict | None:
    with db.session() as s:
        row = s.get(LaunchContext, launch_id)
        if row is None:
            return None
        expires = row.expires if row.expires.tzinfo else row.expires.replace(tzinfo=UTC)
        return dict(row.context) if expires > datetime.now(UTC) else None
