"""Template-based extraction of a QuestionnaireResponse into FHIR resources (HL7 SDC
"Extracting data from QuestionnaireResponse", template-based extraction:
``sdc-questionnaire-templateExtract``, ``-templateExtractContext``, ``-templateExtractValue``).

Rules are data in the Questionnaire: each ``templateExtract`` (on the root or on an item) points to
a contained template resource; inside it, an element carrying ``templateExtractContext`` is repeated
once per FHIRPath result (and dropped when there is none), and an element carrying
``templateExtractValue`` takes the value of its FHIRPath expression (and is dropped when empty).
Primitive elements carry the extensions on their ``_element`` sibling, as in FHIR JSON.

Expressions are evaluated with the QuestionnaireResponse as root (``%resource``; linkIds are unique
per form, so paths are absolute); ``%context`` is the current node (the QR item of an item-level
extract, or the value a ``templateExtractContext`` iterates over), ``%subject``, ``%order``, ``%encounter``, ``%author``, ``%coverage``,
``%insurer`` (References), ``%index`` (1-based position in a repeated context) and one
``%ref_<templateId>`` Reference per template (``urn:uuid`` fullUrls, so extracted resources can
point at each other inside the transaction).
"""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal

from fhirpathpy import evaluate
from fhirpathpy.models import models

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
EXTRACT = SDC + "sdc-questionnaire-templateExtract"
CONTEXT = SDC + "sdc-questionnaire-templateExtractContext"
VALUE = SDC + "sdc-questionnaire-templateExtractValue"
R4 = models["r4"]


class ExtractionError(ValueError):
    """The Questionnaire's extraction rules are broken (a packaging bug, not the user's input)."""


def _ext(node: dict, url: str) -> str | None:
    for ext in node.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext.get("valueString") or (ext.get("valueExpression") or {}).get("expression")
    return None


def _strip(node: dict, *urls: str) -> dict:
    out = dict(node)
    exts = [e for e in out.get("extension") or () if e.get("url") not in urls]
    if exts:
        out["extension"] = exts
    else:
        out.pop("extension", None)
    return out


def _json(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _eval(expr: str, node, env: dict) -> list:
    """Evaluate against the QuestionnaireResponse (``%resource``, also the root); the current
    iteration value is ``%context`` (fhirpathpy cannot navigate untyped sub-nodes as roots)."""
    try:
        return [_json(v) for v in evaluate(env["resource"], expr, {**env, "context": node}, R4)]
    except Exception as exc:  # noqa: BLE001 - fhirpathpy raises many types for a bad expression
        raise ExtractionError(f"extraction expression failed: {expr!r}: {exc}") from None


def _empty(value) -> bool:
    return value is None or value == {} or value == [] or value == ""


def _fill(template, node, env: dict):
    """Instantiate one template value against ``node``; returns a list of values (0..n)."""
    if isinstance(template, list):
        out = []
        for item in template:
            out.extend(v for v in _fill(item, node, env) if not _empty(v))
        return [out] if out else []
    if not isinstance(template, dict):
        return [template]
    ctx_expr = _ext(template, CONTEXT)
    if ctx_expr is not None:
        results = []
        for i, sub in enumerate(_eval(ctx_expr, node, env), start=1):
            results.extend(_fill(_strip(template, CONTEXT), sub, {**env, "index": i}))
        return results
    value_expr = _ext(template, VALUE)
    if value_expr is not None:
        return _eval(value_expr, node, env)
    out: dict = {}
    for key, val in template.items():
        if key.startswith("_"):
            continue
        sibling = template.get("_" + key)
        if isinstance(sibling, dict) and _ext(sibling, VALUE):
            values = _eval(_ext(sibling, VALUE), node, env)
            if values:
                out[key] = values if isinstance(val, list) else values[0]
            continue
        filled = _fill(val, node, env)
        if filled and (isinstance(val, list) or not _empty(filled[0])):
            out[key] = filled[0]
    for key, sibling in template.items():  # primitives present only as _key + extension
        if key.startswith("_") and key[1:] not in template and isinstance(sibling, dict) and _ext(sibling, VALUE):
            values = _eval(_ext(sibling, VALUE), node, env)
            if values:
                out[key[1:]] = values[0]
    return [out] if out else []


def _templates(questionnaire: dict) -> dict[str, dict]:
    return {c["id"]: c for c in questionnaire.get("contained") or () if isinstance(c, dict) and c.get("id")}


def _extract_refs(node: dict) -> list[str]:
    refs = []
    for ext in node.get("extension") or ():
        if ext.get("url") == EXTRACT:
            for sub in ext.get("extension") or ():
                if sub.get("url") == "template":
                    refs.append(((sub.get("valueReference") or {}).get("reference") or "").lstrip("#"))
    return refs


def _walk(q_items: list, qr_items: list, found: list) -> None:
    """Pair every Questionnaire item carrying templateExtract with its answered QR item(s)."""
    by_link: dict[str, list[dict]] = {}
    for it in qr_items or ():
        by_link.setdefault(it.get("linkId"), []).append(it)
    for q_item in q_items or ():
        for qr_item in by_link.get(q_item.get("linkId"), []):
            for ref in _extract_refs(q_item):
                found.append((ref, qr_item))
            _walk(q_item.get("item") or [], qr_item.get("item") or [], found)


def extract(questionnaire: dict, response: dict, env: dict) -> list[tuple[str, dict, str]]:
    """Return ``[(fullUrl, resource, templateId), ...]`` for the transaction, in template order."""
    templates = _templates(questionnaire)
    pairs: list[tuple[str, dict]] = [(ref, response) for ref in _extract_refs(questionnaire)]
    _walk(questionnaire.get("item") or [], response.get("item") or [], pairs)
    urls = {tid: f"urn:uuid:{uuid.uuid4()}" for tid in templates}
    env = {**env, "resource": response,
           **{f"ref_{tid.replace('-', '_')}": {"reference": url} for tid, url in urls.items()}}
    out: list[tuple[str, dict, str]] = []
    for ref, node in pairs:
        if ref not in templates:
            raise ExtractionError(f"templateExtract points to #{ref}, which is not contained")
        template = copy.deepcopy(templates[ref])
        template.pop("id", None)
        for resource in _fill(template, node, env):
            used = any(u == urls[ref] for u, _, _ in out)
            out.append((f"urn:uuid:{uuid.uuid4()}" if used else urls[ref], resource, ref))
    return out
