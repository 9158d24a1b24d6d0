"""Required terminology bindings of the stored resources (FHIR R4 terminologies.html §4.1.0.1
"required": "To be conformant, the concept in this element SHALL be from the specified value set").

The R4B models of fhir.resources validate structure but accept any string in a ``code`` element
(``Patient.gender = "robot"`` passes); they do carry the codes of most required bindings as field
metadata (``enum_values``), which this module enforces. ``bindings.json`` (schema-checked, with its
source) adds the code lists the models truncate and the required bindings on CodeableConcept
elements. A violation is one issue per element, with its FHIRPath location (``Patient.gender``).
"""

from __future__ import annotations

import json
import typing
from functools import cache
from pathlib import Path

import jsonschema
from fhir.resources.R4B import get_fhir_model_class

from sandbox.fhir.outcome import issue

_FILE = Path(__file__).with_name("bindings.json")
_LIST = {"type": "array", "items": {"type": "string"}, "minItems": 1}
_SCHEMA = {
    "type": "object", "required": ["source", "last_verified", "codes", "codeable_concepts"],
    "properties": {
        "source": {"type": "string"}, "last_verified": {"type": "string", "format": "date"},
        "codes": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["valueSet", "codes"], "additionalProperties": False,
            "properties": {"valueSet": {"type": "string"}, "codes": _LIST}}},
        "codeable_concepts": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["valueSet", "system", "codes"], "additionalProperties": False,
            "properties": {"valueSet": {"type": "string"}, "system": {"type": "string"}, "codes": _LIST}}},
    },
}


@cache
def _table() -> dict:
    data = json.loads(_FILE.read_text())
    jsonschema.validate(data, _SCHEMA)
    return data


@cache
def _fields(model) -> dict[str, tuple[list[str] | None, str | None, type | None]]:
    """Per JSON name: (allowed codes or None, value set, the nested model for complex elements)."""
    table = _table()
    out = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        listed = table["codes"].get(f"{model.__name__}.{key}")
        codes = listed["codes"] if listed else extra.get("enum_values")
        if codes and "+" in codes:  # the model lists only some codes; not enforced without the full list
            codes = None
        out[key] = (codes, listed["valueSet"] if listed else None, _nested(field.annotation))
    return out


def _nested(annotation):
    stack = [annotation]
    while stack:
        current = stack.pop()
        if hasattr(current, "get_model_klass"):
            return current.get_model_klass()
        stack.extend(typing.get_args(current))
    return None


def violations(resource: dict) -> list[dict]:
    """The required-binding violations in ``resource`` (a structurally valid R4 resource)."""
    found: list[dict] = []
    rtype = resource.get("resourceType")
    _walk(resource, get_fhir_model_class(rtype), rtype, found)
    return found[:20]


def _walk(node: dict, model, path: str, found: list[dict]) -> None:
    fields = _fields(model)
    concepts = _table()["codeable_concepts"]
    for key, value in node.items():
        if key not in fields:
            continue
        codes, value_set, nested = fields[key]
        many = isinstance(value, list)
        for i, item in enumerate(value if many else [value]):
            where = f"{path}.{key}" + (f"[{i}]" if many else "")
            concept = concepts.get(f"{model.__name__}.{key}")
            if codes is not None and isinstance(item, str) and item not in codes:
                named = f"the required value set {value_set}" if value_set else "its required binding"
                found.append(issue("code-invalid", f"{where}: {item!r} is not a code of {named} "
                                                   f"({', '.join(codes)})", expression=where))
            elif concept is not None and isinstance(item, dict):
                _check_concept(item, concept, where, found)
            elif isinstance(item, dict) and "resourceType" in item:   # contained resources
                try:
                    _walk(item, get_fhir_model_class(item["resourceType"]), where, found)
                except (KeyError, ValueError):
                    continue
            elif isinstance(item, dict) and nested is not None:
                _walk(item, nested, where, found)


def _check_concept(concept: dict, rule: dict, where: str, found: list[dict]) -> None:
    codes = [c.get("code") for c in concept.get("coding") or () if isinstance(c, dict) and c.get("system") == rule["system"]]
    if not codes or any(c not in rule["codes"] for c in codes):
        shown = ", ".join(repr(c) for c in codes) or "no coding from " + rule["system"]
        found.append(issue("code-invalid", f"{where}: {shown} is not in the required value set {rule['valueSet']} "
                                           f"({', '.join(rule['codes'])})", expression=where))
