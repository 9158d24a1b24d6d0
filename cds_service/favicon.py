"""``GET /favicon.ico``: painpa's icon for every page it serves (admin dashboard, SMART app,
sandbox EHR), so a browser's automatic request for it finds one instead of a 404 (HTML Living
Standard §4.2.4 "link type icon": without a declared icon, browsers ask for /favicon.ico)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

bp = Blueprint("favicon", __name__)
ICON = (Path(__file__).parent / "static" / "favicon.ico").read_bytes()


@bp.get("/favicon.ico")
def favicon() -> Response:
    resp = Response(ICON, mimetype="image/vnd.microsoft.icon")
    resp.cache_control.public = True
    resp.cache_control.max_age = 86400
    return resp
