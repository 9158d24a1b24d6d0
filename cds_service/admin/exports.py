"""CSV downloads of every dashboard table (RFC 4180), with spreadsheet formula injection defused:
a cell that starts with = + - @ (or a tab / carriage return) is prefixed with a single quote
(OWASP "CSV Injection")."""

from __future__ import annotations

import csv
import io

from flask import Response


def _safe(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(filename: str, header: list[str], rows: list[list]) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe(v) for v in row])
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
