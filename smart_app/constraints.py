"""Impossible answers refused on the server, with the field named: a date for past care that lies in
the future, an end before its start. The rules are the forms' own data, in standard extensions:

- painpa's ``past-date`` (valueBoolean) on a date item of care already given: not after today. (The
  FHIR way, ``maxValue`` with a ``cqf-calculatedValue`` "today()" on ``_valueDate``, has no value of
  its own, which fhir.resources' R4B Extension model refuses.) Static ``minValue``/``maxValue``
  dates are honoured too;
- ``questionnaire-constraint`` on the Questionnaire (FHIR R4 extension: key, severity, FHIRPath
  ``expression`` over the QuestionnaireResponse, ``human`` message, ``location`` = the item to flag).

Scores outside their scale and minutes ≤ 0 are plain ``minValue``/``maxValue`` numbers, checked
where answers are converted (:func:`smart_app.forms.parse`). The browser gets the same limits as
``min``/``max`` on ``input type=date``: a hint only; this module is the truth.
"""

from __future__ import annotations

from datetime import date

from fhirpathpy import evaluate
from fhirpathpy.models import models

from smart_app.describe import day
from smart_app.questionnaires import MAX_VALUE, MIN_VALUE

PAST_DATE = "http://painpa.org/fhir/StructureDefinition/past-date"
CONSTRAINT = "http://hl7.org/fhir/StructureDefinition/questionnaire-constraint"
R4 = models["r4"]


class ConstraintError(ValueError):
    """A form's constraint cannot be evaluated: the form's data is broken, not the answer."""


def _static_date(item: dict, url: str) -> date | None:
    for ext in item.get("extension") or ():
        if ext.get("url") == url and isinstance(ext.get("valueDate"), str):
            return date.fromisoformat(ext["valueDate"])
    return None


def date_limits(item: dict, today: date) -> tuple[date | None, date | None]:
    """(earliest, latest) allowed for a date item, either None when unbounded."""
    latest = _static_date(item, MAX_VALUE)
    if any(e.get("url") == PAST_DATE and e.get("valueBoolean") for e in item.get("extension") or ()):
        latest = min(latest, today) if latest else today
    return _static_date(item, MIN_VALUE), latest


def date_error(item: dict, value: date, today: date) -> str | None:
    """The message for a date outside its limits, naming the field; None when it is allowed."""
    label = item.get("text", item["linkId"])
    lo, hi = date_limits(item, today)
    if hi is not None and value > hi:
        return f"{label}: cannot be after {day(hi)}" + (" (it is care already given)." if hi == today else ".")
    if lo is not None and value < lo:
        return f"{label}: cannot be before {day(lo)}."
    return None


def _sub(ext: dict, name: str) -> str | None:
    return next((s.get("valueString") or s.get("valueCode") or s.get("valueId")
                 for s in ext.get("extension") or () if s.get("url") == name), None)


def check(questionnaire: dict, qr: dict) -> dict[str, str]:
    """Errors of the form's ``questionnaire-constraint`` rules (severity error) against ``qr``,
    keyed by the linkId each rule names as its location (``_form`` when it names none)."""
    errors: dict[str, str] = {}
    for ext in questionnaire.get("extension") or ():
        if ext.get("url") != CONSTRAINT or (_sub(ext, "severity") or "error") != "error":
            continue
        expr, human = _sub(ext, "expression"), _sub(ext, "human")
        if not expr or not human:
            raise ConstraintError(f"constraint {_sub(ext, 'key')!r} has no expression or message")
        try:
            result = evaluate(qr, expr, {"resource": qr}, R4)
        except Exception as exc:  # noqa: BLE001 - fhirpathpy raises many types for a bad expression
            raise ConstraintError(f"constraint {_sub(ext, 'key')!r} failed: {exc}") from None
        if result == [False]:
            errors.setdefault(_sub(ext, "location") or "_form", human)
    return errors
