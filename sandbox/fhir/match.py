"""Matching one search value against one resource (FHIR R4 §3.1.1.4 "Search parameter types":
token ``[system]|[code]``, reference, date with prefixes eq/ne/lt/gt/le/ge as ranges, string
starts-with, uri exact). Comma-separated values are OR; repeated parameters are AND.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from sandbox.fhir.outcome import FhirError
from sandbox.fhir.params import Param, values

PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def date_range(text: str) -> tuple[datetime, datetime]:
    """The half-open instant range a FHIR date/dateTime denotes at its precision (R4 §2.24.0.1)."""
    m = _DATE.match(text.strip())
    if not m:
        raise ValueError(text)
    year, month, day, hh, mm, ss, tz = m.groups()
    tzinfo = UTC
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        tzinfo = UTC if tz[1:] == "00:00" else _offset(sign, tz[1:])
    if hh is not None:
        start = datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss or 0), tzinfo=tzinfo)
        return start, start + (timedelta(seconds=1) if ss else timedelta(minutes=1))
    if day is not None:
        start = datetime(int(year), int(month), int(day), tzinfo=UTC)
        return start, start + timedelta(days=1)
    if month is not None:
        start = datetime(int(year), int(month), 1, tzinfo=UTC)
        end = datetime(int(year) + (month == "12"), int(month) % 12 + 1, 1, tzinfo=UTC)
        return start, end
    return datetime(int(year), 1, 1, tzinfo=UTC), datetime(int(year) + 1, 1, 1, tzinfo=UTC)


def _offset(sign: int, hhmm: str):
    h, m = hhmm.split(":")
    return timezone(sign * timedelta(hours=int(h), minutes=int(m)))


_FAR = (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


def resource_ranges(value) -> list[tuple[datetime, datetime]]:
    if isinstance(value, str):
        try:
            return [date_range(value)]
        except ValueError:
            return []
    if isinstance(value, dict) and ("start" in value or "end" in value):  # Period: open ends are unbounded
        lo = date_range(value["start"])[0] if value.get("start") else _FAR[0]
        hi = date_range(value["end"])[1] if value.get("end") else _FAR[1]
        return [(lo, hi)]
    return []


def match_date(expr: str, found: list) -> bool:
    prefix, text = (expr[:2], expr[2:]) if expr[:2] in PREFIXES else ("eq", expr)
    try:
        lo, hi = date_range(text)
    except ValueError:
        raise FhirError(400, f"Invalid date search value {expr!r}", "value") from None
    for rlo, rhi in (r for v in found for r in resource_ranges(v)):
        hit = {
            "eq": rlo >= lo and rhi <= hi,
            "ne": not (rlo >= lo and rhi <= hi),
            "lt": rlo < lo,
            "gt": rhi > hi,
            "le": rlo < hi,
            "ge": rhi > lo,
        }[prefix]
        if hit:
            return True
    return False


def _codings(value) -> list[tuple[str | None, str | None]]:
    if isinstance(value, str):  # code, or the id
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [(c.get("system"), c.get("code")) for c in value.get("coding") or [] if isinstance(c, dict)]
    if "value" in value and "code" not in value:  # Identifier
        return [(value.get("system"), value.get("value"))]
    return [(value.get("system"), value.get("code"))]


def match_token(expr: str, found: list) -> bool:
    if "|" in expr:
        system, code = expr.split("|", 1)
    else:
        system, code = None, expr
    for s, c in (pair for v in found for pair in _codings(v)):
        if code and c != code:
            continue
        if system is None or (system == "" and s is None) or s == system:
            return True
    return False


def match_reference(expr: str, found: list, target: str | None) -> bool:
    want = expr.rstrip("/").split("/")
    want_type, want_id = (want[-2], want[-1]) if len(want) >= 2 else (target, want[-1])
    for ref in found:
        text = ref.get("reference", "") if isinstance(ref, dict) else ""
        parts = text.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-1] == want_id and (want_type is None or parts[-2] == want_type):
            return True
    return False


def match_string(expr: str, found: list, exact: bool = False) -> bool:
    needle = expr.lower()
    return any(isinstance(v, str) and (v == expr if exact else v.lower().startswith(needle)) for v in found)


def check_value(param: Param, raw: str) -> None:
    """Reject a malformed search value even when no resource would be compared with it."""
    if param.kind == "date":
        for option in _split(raw):
            try:
                date_range(option[2:] if option[:2] in PREFIXES else option)
            except ValueError:
                raise FhirError(400, f"Invalid date search value {option!r}", "value") from None


def matches(resource: dict, param: Param, raw: str, modifier: str | None = None) -> bool:
    found = [v for path in param.paths for v in values(resource, path)]
    if modifier == "missing":
        return (not found) == (raw == "true")
    if modifier not in (None, "exact", "contains") or (modifier == "contains" and param.kind != "string"):
        raise FhirError(400, f"Search modifier :{modifier} is not supported", "not-supported")
    options = _split(raw)
    if param.kind == "token":
        return any(match_token(o, found) for o in options)
    if param.kind == "reference":
        return any(match_reference(o, found, param.target) for o in options)
    if param.kind == "date":
        return any(match_date(o, found) for o in options)
    if param.kind == "uri":
        return any(match_string(o, found, exact=True) for o in options)
    if modifier == "contains":
        return any(o.lower() in str(v).lower() for o in options for v in found)
    return any(match_string(o, found, exact=modifier == "exact") for o in options)


def _split(raw: str) -> list[str]:
    """Comma is OR; ``\\,`` is a literal comma (R4 §3.1.1.5.7 escaping)."""
    parts, buf, i = [], "", 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            buf += raw[i + 1]
            i += 2
            continue
        if raw[i] == ",":
            parts.append(buf)
            buf = ""
        else:
            buf += raw[i]
        i += 1
    parts.append(buf)
    return [p for p in parts if p != ""]


def sort_key(resource: dict, param: Param) -> datetime:
    ranges = [r for path in param.paths for v in values(resource, path) for r in resource_ranges(v)]
    return min((r[0] for r in ranges), default=_FAR[0])
