"""The fix forms as FHIR R4 Questionnaires kept in ``fhir_profiles/questionnaires/`` (HL7 SDC
subset: groups, choice with ``answerOption`` / ``answerValueSet``, date, integer, decimal, string,
text, boolean, ``enableWhen``, ``initialExpression`` and ``answerExpression`` for pre-population,
``minValue`` / ``maxValue``; standards.md §3.3).

The forms are read once by :mod:`cds_service.dtr.forms` (the DTR payer service serves the same
files); this module answers the questions the renderer and the parser share: the options of
a choice item and whether an item is enabled by the answers given.
"""

from __future__ import annotations

import json
import re

from fhirpathpy import evaluate

from cds_service.dtr.forms import stored_forms, terminology
from smart_app.extract import R4, _json

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
INITIAL_EXPR = SDC + "sdc-questionnaire-initialExpression"
ANSWER_EXPR = SDC + "sdc-questionnaire-answerExpression"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
UNIQUE_TEXT = "http://painpa.org/fhir/StructureDefinition/unique-text"
FIXES_REQUIREMENT = "http://painpa.org/fhir/StructureDefinition/fixes-requirement"
# Launch-context variables that exist only for a form opened on an order (fhir_profiles/questionnaires/README.md).
_ORDER_VARIABLES = re.compile(r"%(order|orderRef|orderCodes|coverage|insurer|summary)\b")


class UnknownForm(LookupError):
    pass


def _all() -> dict[str, dict]:
    return stored_forms()     # read once, shared with the DTR payer service's view of the same forms


def get(qid: str) -> dict:
    try:
        return _all()[qid]
    except KeyError:
        raise UnknownForm(qid) from None


def needs_order(questionnaire: dict) -> bool:
    """Whether the form's expressions read the order's launch context: such a form cannot be filled
    at patient level (it would extract a Claim without codes, a summary without an order...)."""
    return bool(_ORDER_VARIABLES.search(json.dumps(questionnaire)))


def catalogue() -> dict[str, str]:
    return {qid: q.get("title", qid) for qid, q in _all().items()}


def _fixes(node: dict) -> set[str]:
    return {e.get("valueString") for e in node.get("extension") or () if e.get("url") == FIXES_REQUIREMENT}


def form_for(requirement_id: str, named: str | None) -> str | None:
    """The form that fixes a requirement: the policy's ``form`` (the one source for the policy
    families' requirements; the loader checks it names a shipped form), else the form whose
    Questionnaire declares the requirement id (``fixes-requirement``: requirements outside the policy
    families, e.g. ``cpm.time``)."""
    if named and named in _all():
        return named
    for qid, q in _all().items():
        if requirement_id in _fixes(q) or any(requirement_id in _fixes(o) for i in walk(q.get("item") or [])
                                              for o in i.get("answerOption") or ()):
            return qid
    return None


def _valuesets() -> dict[str, dict]:
    return terminology()


def ext_value(node: dict, url: str):
    for ext in node.get("extension") or ():
        if ext.get("url") == url:
            for key, val in ext.items():
                if key.startswith("value"):
                    return val
    return None


def walk(items: list):
    """Every item, depth first."""
    for item in items or ():
        yield item
        yield from walk(item.get("item") or [])


def _concepts(vs: dict) -> list[dict]:
    codings = []
    if vs.get("resourceType") == "CodeSystem":
        return [{"system": vs["url"], "code": c["code"], "display": c.get("display", c["code"])}
                for c in vs.get("concept") or ()]
    for inc in (vs.get("compose") or {}).get("include") or ():
        for c in inc.get("concept") or ():
            codings.append({"system": inc.get("system"), "code": c["code"], "display": c.get("display") or c["code"]})
    for c in (vs.get("expansion") or {}).get("contains") or ():
        codings.append({k: c[k] for k in ("system", "code", "display") if k in c})
    return codings


def options(questionnaire: dict, item: dict, env: dict) -> list[dict]:
    """Answer options of a choice/reference item as answer values (``{"valueCoding": …}`` …)."""
    expr = ext_value(item, ANSWER_EXPR)
    if expr:
        found = evaluate({"resourceType": "Parameters"}, expr["expression"], env, R4)
        return [_as_answer(_json(v)) for v in found if isinstance(v, dict)]
    if item.get("answerOption"):
        return [{k: v for k, v in opt.items() if k.startswith("value")} for opt in item["answerOption"]]
    canonical = item.get("answerValueSet")
    if canonical:
        if canonical.startswith("#"):
            vs = next((c for c in questionnaire.get("contained") or () if c.get("id") == canonical[1:]), None)
        else:
            vs = _valuesets().get(canonical.split("|")[0])
        return [{"valueCoding": c} for c in _concepts(vs or {})]
    return []


def _as_answer(value: dict) -> dict:
    """A Coding, a Reference, or a resource (offered as a Reference with a readable label)."""
    if value.get("resourceType") and value.get("id"):
        when = value.get("effectiveDateTime") or value.get("started") or value.get("issued") or ""
        label = (value.get("code") or {}).get("text") or next(
            (c.get("display") or c.get("code") for c in (value.get("code") or {}).get("coding") or ()), None
        ) or value.get("description") or value["resourceType"]
        return {"valueReference": {"reference": f"{value['resourceType']}/{value['id']}",
                                   "display": f"{label} {when[:10]}".strip()}}
    if "reference" in value:
        return {"valueReference": value}
    return {"valueCoding": value}


def answer_key(answer: dict) -> str:
    """A stable string for an answer value: ``system|code`` for codings, the reference, or str."""
    for key, val in answer.items():
        if key == "valueCoding":
            return f"{val.get('system', '')}|{val.get('code', '')}"
        if key == "valueReference":
            return val.get("reference", "")
        if key.startswith("value"):
            return str(val).lower() if isinstance(val, bool) else str(val)
    return ""


def answer_label(answer: dict) -> str:
    for key, val in answer.items():
        if key == "valueCoding":
            return val.get("display") or val.get("code", "")
        if key == "valueReference":
            return val.get("display") or val.get("reference", "")
        if key.startswith("value"):
            return str(val)
    return ""


def _compare(answer: dict, op: str, expected: dict) -> bool:
    got, want = answer_key(answer), answer_key(expected)
    if op == "=":
        return got == want
    if op == "!=":
        return got != want
    try:
        a, b = float(got), float(want)
    except ValueError:
        a, b = got, want
    return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}.get(op, False)


def enabled(item: dict, answers: dict[str, list[dict]]) -> bool:
    """R4 ``enableWhen`` / ``enableBehavior`` evaluated over the answers given so far."""
    conditions = item.get("enableWhen") or []
    if not conditions:
        return True
    results = []
    for cond in conditions:
        given = answers.get(cond.get("question"), [])
        op = cond.get("operator")
        expected = {k: v for k, v in cond.items() if k.startswith("answer")}
        expected = {"value" + k[len("answer"):]: v for k, v in expected.items()}
        if op == "exists":
            results.append(bool(given) == bool(expected.get("valueBoolean")))
        else:
            results.append(any(_compare(a, op, expected) for a in given))
        if op == "!=" and not given:
            results[-1] = True
    return any(results) if item.get("enableBehavior") == "any" else all(results)


def initial_answers(questionnaire: dict, env: dict) -> dict[str, list[dict]]:
    """Pre-population: ``initial`` values, then ``initialExpression`` over the record (SDC)."""
    answers: dict[str, list[dict]] = {}
    env = {**env, "sections": [o["valueCoding"] for i in walk(questionnaire.get("item") or [])
                               for o in i.get("answerOption") or ()
                               if env.get("requirement") in _fixes(o) and "valueCoding" in o]}
    value_key = {"date": "valueDate", "integer": "valueInteger", "decimal": "valueDecimal",
                 "string": "valueString", "text": "valueString", "boolean": "valueBoolean",
                 "choice": "valueCoding", "open-choice": "valueCoding", "reference": "valueReference"}
    for item in walk(questionnaire.get("item") or []):
        if item.get("type") == "group":
            continue
        if item.get("initial"):
            answers[item["linkId"]] = [dict(v) for v in item["initial"]]
        expr = ext_value(item, INITIAL_EXPR)
        if expr:
            found = [_json(v) for v in evaluate({"resourceType": "Parameters"}, expr["expression"], env, R4)]
            key = value_key.get(item.get("type"), "valueString")
            if found:
                answers[item["linkId"]] = [{key: v} for v in found[: (None if item.get("repeats") else 1)]]
    return answers
