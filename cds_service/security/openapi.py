"""``GET /openapi.json``: the OpenAPI 3.0 description of painpa's CDS Hooks HTTP surface
(CDS Hooks 2.0 §Discovery, §Calling a CDS Service, §Feedback; the contract table of
ARCHITECTURE.md). The document is a file beside the package (``cds_service/openapi.json``) so that
tools (schemathesis in tests/security) read exactly what is served.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import Blueprint, jsonify

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.json"
bp = Blueprint("openapi", __name__)


@cache
def document() -> dict:
    return json.loads(DOCUMENT.read_text())


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())
