"""SMART links on cards (CDS Hooks 2.0 §Link ``type: smart``; DTR "no access token in appContext";
standards.md §1.11, §8.11): the card carries ``appContext = {"ctx": "<handle>"}``, an opaque,
short-lived, single-use handle (:mod:`cds_service.applinks`) behind which the payload that
:meth:`cds_service.readiness.Assessment.link_payload` built waits for the app's launch.
"""

from __future__ import annotations

import json

from cds_service import applinks
from cds_service.store.base import Database

APP_LINK_TTL_S = 3600
MAX_LABEL = 80


def smart_link(db: Database, base_url: str, payload: dict, label: str) -> dict:
    handle = applinks.issue(db, payload, APP_LINK_TTL_S)
    return {
        "label": label[:MAX_LABEL],
        "url": f"{base_url}/smart/launch",
        "type": "smart",
        "appContext": json.dumps({"ctx": handle}, separators=(",", ":")),
    }
