"""Load and validate the coverage policies (fhir_profiles/policies/**.json) and code lists
(fhir_profiles/valuesets/*.json) once at start-up.

Validation is two-level: JSON Schema (fhir_profiles/policies/schema/) for shape, then cross-references
(every ValueSet id a policy names exists; requirement ids unique; pack overrides name real
requirements; a requirement's ``form`` names a Questionnaire shipped in fhir_profiles/questionnaires/,
the one source of which form fixes which requirement). Any failure raises :class:`PolicyError` naming the file and the field, so a bad edit
to the data stops start-up instead of silently changing determinations.

Versioning (ARCHITECTURE.md "Every threshold, code list and program window is data ... with its source
and date"): documents sharing an ``id`` are versions; the one whose ``effective`` ≤ date of service <
``expires`` and with the latest ``effective`` applies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import jsonschema

from cds_service.policy.valuesets import ValueSet, build

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "fhir_profiles"


class PolicyError(ValueError):
    """A policy or code-list file is invalid. ``file`` and ``field`` say where."""

    def __init__(self, file: str | Path, fld: str, message: str) -> None:
        self.file = str(file)
        self.field = fld
        super().__init__(f"{self.file}: {fld or '(document)'}: {message}")


@dataclass(frozen=True)
class PolicyDoc:
    id: str
    type: str
    version: str
    effective: date
    expires: date | None
    data: dict
    path: str

    def in_force(self, when: date) -> bool:
        return self.effective <= when and (self.expires is None or when < self.expires)


@dataclass
class PolicySet:
    valuesets: dict[str, ValueSet] = field(default_factory=dict)
    docs: dict[str, list[PolicyDoc]] = field(default_factory=dict)   # id -> versions, newest first
    root: str = ""

    def vs(self, vs_id: str) -> ValueSet:
        return self.valuesets[vs_id]

    def doc(self, doc_id: str, when: date) -> PolicyDoc | None:
        for version in self.docs.get(doc_id, ()):
            if version.in_force(when):
                return version
        return None

    def of_type(self, type_: str, when: date) -> list[PolicyDoc]:
        found = (self.doc(doc_id, when) for doc_id, versions in self.docs.items() if versions[0].type == type_)
        return [d for d in found if d is not None]

    def programs(self, when: date) -> PolicyDoc | None:
        docs = self.of_type("programs", when)
        return docs[0] if docs else None

    def family_of(self, codes: Iterable[str], when: date) -> PolicyDoc | None:
        codes = tuple(codes)
        for doc in self.of_type("family", when):
            vs = self.valuesets[doc.data["codes"]]
            if any(vs.contains(None, c) for c in codes):
                return doc
        return None

    def pack_for(self, identifiers: Iterable[tuple[str, str]], when: date) -> PolicyDoc | None:
        ids = {(s or "", v) for s, v in identifiers}
        values = {v for _, v in ids}
        for doc in self.of_type("pack", when):
            for ident in doc.data["payer"]["identifiers"]:
                system = ident.get("system")
                if (system and (system, ident["value"]) in ids) or (not system and ident["value"] in values):
                    return doc
        return None

    @property
    def version(self) -> str:
        return ";".join(f"{i}@{v[0].version}" for i, v in sorted(self.docs.items()))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PolicyError(path, f"line {exc.lineno}", f"not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise PolicyError(path, "", "top level must be a JSON object")
    return data


def _schema_check(validator: jsonschema.protocols.Validator, data: dict, path: Path) -> None:
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = errors[-1] if errors[-1].absolute_path else errors[0]
        fld = "/".join(str(p) for p in err.absolute_path)
        raise PolicyError(path, fld, err.message)


def _vs_refs(obj: object, where: str) -> Iterable[tuple[str, str]]:
    """(field path, ValueSet id) for every ``*_vs`` param and the fixed ValueSet fields."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            here = f"{where}/{key}" if where else key
            if key.endswith("_vs") or key in {"codes", "pa_codes", "associated_codes", "suspended_codes",
                                              "codes_in", "codes_not_in"}:
                values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
                for v in values:
                    if isinstance(v, str):
                        yield here, v
            else:
                yield from _vs_refs(value, here)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _vs_refs(item, f"{where}/{i}")


def _params_check(doc: PolicyDoc, params_schemas: dict[str, dict], family_specs: dict[str, dict[str, dict]]) -> None:
    """Each requirement's params against its check's schema (``$defs/checkParams``), including a pack's
    overrides merged over the family's params, so a typo fails at start-up, not at order time."""
    checks: list[tuple[str, str, dict]] = []
    if doc.type == "family":
        checks = [(f"requirements/{i}/params", r["check"], r["params"]) for i, r in enumerate(doc.data["requirements"])]
    elif doc.type == "pack":
        for fam, spec in doc.data["families"].items():
            for rid, over in spec.get("overrides", {}).items():
                base = family_specs[fam][rid]
                checks.append((f"families/{fam}/overrides/{rid}/params", base["check"], {**base["params"], **over.get("params", {})}))
            checks += [(f"families/{fam}/add/{i}/params", r["check"], r["params"]) for i, r in enumerate(spec.get("add", ()))]
    for where, check, params in checks:
        errors = list(jsonschema.Draft202012Validator(params_schemas[check]).iter_errors(params))
        if errors:
            sub = "/".join(str(x) for x in errors[0].absolute_path)
            raise PolicyError(doc.path, f"{where}/{sub}".rstrip("/"), errors[0].message)


def _form_ids(root: Path) -> set[str] | None:
    """Questionnaire ids under ``root/questionnaires`` (None when the data set ships no forms)."""
    folder = root / "questionnaires"
    if not folder.is_dir():
        return None
    ids = set()
    for path in folder.glob("*.json"):
        data = _read_json(path)
        if data.get("resourceType") == "Questionnaire" and isinstance(data.get("id"), str):
            ids.add(data["id"])
    return ids


def _check_forms(doc: PolicyDoc, forms: set[str]) -> None:
    reqs = [(f"requirements/{i}", r) for i, r in enumerate(doc.data.get("requirements") or ())]
    for fam, spec in (doc.data.get("families") or {}).items() if doc.type == "pack" else ():
        reqs += [(f"families/{fam}/add/{i}", r) for i, r in enumerate(spec.get("add") or ())]
    for where, req in reqs:
        if req.get("form") is not None and req["form"] not in forms:
            raise PolicyError(doc.path, f"{where}/form", f"no Questionnaire with id {req['form']!r} in questionnaires/")


def _cross_check(doc: PolicyDoc, valuesets: dict[str, ValueSet], family_reqs: dict[str, set[str]]) -> None:
    for fld, vs_id in _vs_refs(doc.data, ""):
        if vs_id not in valuesets:
            raise PolicyError(doc.path, fld, f"unknown ValueSet id {vs_id!r}")
    if doc.type == "family":
        seen: set[str] = set()
        for i, req in enumerate(doc.data["requirements"]):
            if req["id"] in seen:
                raise PolicyError(doc.path, f"requirements/{i}/id", f"duplicate requirement id {req['id']!r}")
            seen.add(req["id"])
        for i, req in enumerate(doc.data["requirements"]):
            for j, choice in enumerate(req.get("painpa_choices", ())):
                if not isinstance(req["params"].get(choice["param"]), int):
                    raise PolicyError(doc.path, f"requirements/{i}/painpa_choices/{j}/param",
                                      f"{choice['param']!r} is not an integer param of {req['id']!r}")
            if req.get("requires") and req["requires"] not in seen:
                raise PolicyError(doc.path, f"requirements/{i}/requires", f"no requirement {req['requires']!r} in this family")
    if doc.type == "pack":
        for fam, spec in doc.data["families"].items():
            if fam not in family_reqs:
                raise PolicyError(doc.path, f"families/{fam}", "no family policy with this id")
            for key in (*spec.get("overrides", {}), *spec.get("drop", ())):
                if key not in family_reqs[fam]:
                    raise PolicyError(doc.path, f"families/{fam}/{key}", f"no requirement {key!r} in family {fam!r}")


def load_policies(root: Path | None = None) -> PolicySet:
    """Read every ValueSet and policy under ``root`` (default: the fhir_profiles package folder)."""
    root = Path(root) if root is not None else DEFAULT_ROOT
    schema_dir = root / "policies" / "schema"
    policy_schema = _read_json(schema_dir / "policy.schema.json")
    vs_schema = _read_json(schema_dir / "valueset.schema.json")
    policy_validator = jsonschema.Draft202012Validator(policy_schema)
    vs_validator = jsonschema.Draft202012Validator(vs_schema)

    valuesets: dict[str, ValueSet] = {}
    for path in sorted((root / "valuesets").glob("*.json")):
        data = _read_json(path)
        _schema_check(vs_validator, data, path)
        if data["resourceType"] == "ValueSet":
            if data["id"] in valuesets:
                raise PolicyError(path, "id", f"duplicate ValueSet id {data['id']!r}")
            valuesets[data["id"]] = build(data)

    docs: dict[str, list[PolicyDoc]] = {}
    for path in sorted(p for p in (root / "policies").rglob("*.json") if "schema" not in p.parts):
        data = _read_json(path)
        _schema_check(policy_validator, data, path)
        try:
            effective = date.fromisoformat(data["effective"])
            expires = date.fromisoformat(data["expires"]) if data.get("expires") else None
        except ValueError as exc:
            raise PolicyError(path, "effective", str(exc)) from None
        doc = PolicyDoc(data["id"], data["type"], data["version"], effective, expires, data, str(path))
        versions = docs.setdefault(doc.id, [])
        if any(v.effective == effective for v in versions):
            raise PolicyError(path, "effective", f"two versions of {doc.id!r} share effective date {effective}")
        if versions and versions[0].type != doc.type:
            raise PolicyError(path, "type", f"{doc.id!r} is already a {versions[0].type!r} policy")
        versions.append(doc)
    for versions in docs.values():
        versions.sort(key=lambda d: d.effective, reverse=True)

    family_reqs = {i: {r["id"] for d in v for r in d.data["requirements"]}
                   for i, v in docs.items() if v[0].type == "family"}
    family_specs = {i: {r["id"]: r for d in v for r in d.data["requirements"]}
                    for i, v in docs.items() if v[0].type == "family"}
    forms = _form_ids(root)
    for versions in docs.values():
        for doc in versions:
            _cross_check(doc, valuesets, family_reqs)
            _params_check(doc, policy_schema["$defs"]["checkParams"], family_specs)
            if forms is not None:
                _check_forms(doc, forms)
    if not any(v[0].type == "programs" for v in docs.values()):
        raise PolicyError(root / "policies", "", "no 'programs' policy document found")
    return PolicySet(valuesets=valuesets, docs=docs, root=str(root))


def window_keys(policies: PolicySet) -> dict[str, int]:
    """Every window a tenant may set ("<requirement id>.<param>") with painpa's default."""
    out: dict[str, int] = {}
    for versions in policies.docs.values():
        for doc in versions:
            for req in doc.data.get("requirements") or () if doc.type == "family" else ():
                for choice in req.get("painpa_choices", ()):
                    out.setdefault(f"{req['id']}.{choice['param']}", req["params"][choice["param"]])
    return out
