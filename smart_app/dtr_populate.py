"""DTR pre-population and information origin, as a DTR SMART app does them (DTR 2.2.0
specification.html#pre-population spec-59..67, spec-71..73; SDC STU3 populate.html
"Expression-based population"; DTR information-origin extension).

What painpa executes is FHIRPath, with ``application/x-fhir-query`` variables: CQL is not executed
here (no CQL engine in this Python stack; see docs/dtr.md). :func:`populate`:

1. binds the SDC launch context (``%patient``, ``%user``, ``%encounter``) and ``%questionnaire``;
2. runs each root ``variable``: an x-fhir-query has its ``{{FHIRPath}}`` parts substituted, then is
   read through ``fetch`` (the app's FHIR access: the EHR's server only); a FHIRPath one is
   evaluated with fhirpathpy;
3. evaluates each enabled item's ``initialExpression``, and repeats until no enabled set changes
   (spec-66; a form that never settles is an error, spec-67);
4. returns the QuestionnaireResponse, each answer marked ``auto`` (``auto-client`` for DTR 2.2).

:func:`mark_origins` compares what the user submitted with what was pre-populated: an unchanged
answer keeps ``auto``, a changed one is ``override``, one with nothing pre-populated is ``manual``
(spec-72: never turn an override or manual answer back into auto), with the author (DTR 2.x
"The DTR client SHALL set origin.source to override or manual and record the author").

:func:`saved_answers` and :func:`resume` reopen an in-progress response (DTR 2.2 "Populating resumed
QuestionnaireResponses", spec-71/72).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fhirpathpy import evaluate

from smart_app.extract import R4, _json
from smart_app.questionnaires import INITIAL_EXPR, answer_key, enabled, walk

VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
ORIGIN = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/information-origin"
DTR_EXT = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/"
X_FHIR_QUERY = "application/x-fhir-query"
MAX_ROUNDS = 5
_EMBEDDED = re.compile(r"\{\{(.+?)\}\}")
VALUE_KEY = {"date": "valueDate", "dateTime": "valueDateTime", "integer": "valueInteger", "decimal": "valueDecimal",
             "string": "valueString", "text": "valueString", "boolean": "valueBoolean", "choice": "valueCoding",
             "open-choice": "valueCoding", "reference": "valueReference"}


class PopulationError(ValueError):
    """The form's population logic cannot be run (it never settles, or names an unknown variable)."""


def auto_code(dtr_version: str) -> str:
    """DTR 2.0.1 / 2.1.0 ``auto``; DTR 2.2.0 ``auto-client`` (pre-populated by the EHR side)."""
    return "auto-client" if dtr_version.startswith("2.2") else "auto"


def _fhirpath(expression: str, env: dict) -> list:
    try:
        return [_json(v) for v in evaluate({"resourceType": "Parameters"}, expression, env, R4)]
    except Exception as exc:     # fhirpathpy raises bare Exceptions for unknown variables and syntax
        raise PopulationError(f"cannot evaluate {expression!r}: {exc}") from None


def _query(template: str, env: dict) -> str:
    def sub(match: re.Match) -> str:
        return ",".join(str(v) for v in _fhirpath(match.group(1), env))
    return _EMBEDDED.sub(sub, template)


def variables(questionnaire: dict, launch: dict[str, dict], fetch: Callable[[str], dict]) -> dict:
    """The FHIRPath environment: launch context, ``%questionnaire`` and the root variables."""
    env: dict = {**launch, "questionnaire": questionnaire}
    for ext in questionnaire.get("extension") or ():
        if ext.get("url") != VARIABLE:
            continue
        expr = ext["valueExpression"]
        if expr.get("language") == X_FHIR_QUERY:
            env[expr["name"]] = fetch(_query(expr["expression"], env))
        else:
            found = _fhirpath(expr["expression"], env)
            env[expr["name"]] = found[0] if len(found) == 1 else found
    return env


def _origin(code: str, author: str | None = None) -> dict:
    ext = [{"url": "source", "valueCode": code}]
    if author:
        ext.append({"url": "author", "extension": [{"url": "practitioner", "valueReference": {"reference": author}}]})
    return {"url": ORIGIN, "extension": ext}


def initial_values(questionnaire: dict, env: dict) -> dict[str, list[dict]]:
    """linkId → pre-populated answer values, iterated to a steady state over enableWhen."""
    answers: dict[str, list[dict]] = {}
    for _round in range(MAX_ROUNDS):
        before = {k: [answer_key(a) for a in v] for k, v in answers.items()}
        for item in walk(questionnaire.get("item") or []):
            expr = next((e["valueExpression"]["expression"] for e in item.get("extension") or ()
                         if e.get("url") == INITIAL_EXPR), None)
            if expr is None:
                continue
            if not enabled(item, answers):
                answers.pop(item["linkId"], None)
                continue
            found = [v for v in _fhirpath(expr, env) if v not in (None, "")]
            key = VALUE_KEY.get(item.get("type"), "valueString")
            if found:
                answers[item["linkId"]] = [{key: v} for v in found[: (None if item.get("repeats") else 1)]]
            else:
                answers.pop(item["linkId"], None)
        if {k: [answer_key(a) for a in v] for k, v in answers.items()} == before:
            return answers
    raise PopulationError("pre-population does not settle (DTR spec-67): the form's enableWhen and "
                          "initialExpression depend on each other in a loop")


def response_items(items: list[dict], answers: dict[str, list[dict]], origins: dict[str, dict]) -> list[dict]:
    """QuestionnaireResponse items mirroring the Questionnaire's groups, only where answered."""
    out = []
    for item in items or ():
        node: dict = {"linkId": item["linkId"], "text": item.get("text", "")}
        if item.get("type") == "group":
            children = response_items(item.get("item") or [], answers, origins)
            if children:
                node["item"] = children
                out.append(node)
            continue
        given = answers.get(item["linkId"])
        if given:
            node["answer"] = [{**a, "extension": [origins[item["linkId"]]]} for a in given]
            out.append(node)
    return out


def populate(questionnaire: dict, launch: dict[str, dict], fetch: Callable[[str], dict]) -> dict[str, list[dict]]:
    """Pre-populated answers by linkId."""
    return initial_values(questionnaire, variables(questionnaire, launch, fetch))


def saved_answers(qr: dict) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """A stored QuestionnaireResponse's answers by linkId (values only) and each one's origin code."""
    answers: dict[str, list[dict]] = {}
    origins: dict[str, str] = {}

    def visit(items):
        for item in items or ():
            for given in item.get("answer") or ():
                value = {k: v for k, v in given.items() if k.startswith("value")}
                if value:
                    answers.setdefault(item["linkId"], []).append(value)
                origin = next((e for e in given.get("extension") or () if e.get("url") == ORIGIN), None)
                code = next((x.get("valueCode") for x in (origin or {}).get("extension") or ()
                             if x.get("url") == "source"), None)
                if code:
                    origins[item["linkId"]] = code
            visit(item.get("item"))
    visit(qr.get("item"))
    return answers, origins


def resume(saved: dict[str, list[dict]], saved_origins: dict[str, str],
           auto: dict[str, list[dict]]) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Answers and origin codes of a relaunched in-progress QuestionnaireResponse (spec-71/72):
    pre-population is run again for empty and auto answers; an ``override`` or ``manual`` answer is
    kept as the user left it, a manual one becoming ``override`` when pre-population now finds a value."""
    answers: dict[str, list[dict]] = {}
    origins: dict[str, str] = {}
    for link, values in saved.items():
        code = saved_origins.get(link, "manual")
        if code in ("override", "manual"):
            answers[link], origins[link] = values, "override" if link in auto else code
        elif link not in auto:       # pre-population finds nothing now: the earlier value stays
            answers[link], origins[link] = values, "auto"
    for link, values in auto.items():
        if link not in answers:
            answers[link], origins[link] = values, "auto"
    return answers, origins


def mark_origins(questionnaire: dict, submitted: dict[str, list[dict]], prepopulated: dict[str, list[dict]],
                 *, author: str | None, dtr_version: str = "2.1",
                 previous: dict[str, str] | None = None) -> dict[str, dict]:
    """linkId → the information-origin extension for the answers submitted; ``previous`` holds the
    origin codes of a resumed response (an override or manual answer never turns back into auto)."""
    auto = auto_code(dtr_version)
    out = {}
    for item in walk(questionnaire.get("item") or []):
        link = item["linkId"]
        if link not in submitted:
            continue
        was = [answer_key(a) for a in prepopulated.get(link, [])]
        now = [answer_key(a) for a in submitted[link]]
        prior = (previous or {}).get(link)
        if prior in ("override", "manual"):
            out[link] = _origin("override" if was or prior == "override" else "manual", author)
        elif was and was == now:
            out[link] = _origin(auto)
        else:
            out[link] = _origin("override" if was else "manual", author)
    return out


def questionnaire_response(questionnaire: dict, answers: dict[str, list[dict]], origins: dict[str, dict], *,
                           status: str, patient: str, coverage: str | None, orders: list[str], author: str | None,
                           authored: str, intended_use: str = "withpa", qr_id: str | None = None) -> dict:
    """A dtr-questionnaireresponse: qr-coverage, qr-context, intendedUse, one origin per answer."""
    ext = []
    if coverage:
        ext.append({"url": DTR_EXT + "qr-coverage", "valueReference": {"reference": coverage}})
    ext += [{"url": DTR_EXT + "qr-context", "valueReference": {"reference": o}} for o in orders]
    ext.append({"url": DTR_EXT + "intendedUse", "valueCodeableConcept": {"coding": [
        {"system": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp", "code": intended_use}]}})
    qr: dict = {"resourceType": "QuestionnaireResponse", "extension": ext,
                "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}", "status": status,
                "subject": {"reference": patient}, "authored": authored,
                "item": response_items(questionnaire.get("item") or [], answers, origins)}
    if qr_id:
        qr["id"] = qr_id
    if author:
        qr["author"] = {"reference": author}
    return qr
