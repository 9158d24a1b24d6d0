"""Denial-reason rules, service groups and gold-card settings, loaded from ``fhir_profiles/denials``
and schema-checked (CMS-0057-F specific denial reasons, domain.md §3; WISeR exemption, §0).

The data, not code, says which reason concerns which policy requirement: a reason is matched by its
text (regular expressions, case-insensitive) or by its X12 CARC/RARC codes, first rule first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jsonschema

DENIALS_DIR = Path(__file__).resolve().parents[2] / "fhir_profiles" / "denials"


class RulesError(ValueError):
    """A data file under fhir_profiles/denials is malformed; the message names file and field."""


@dataclass(frozen=True)
class ReasonRule:
    id: str
    requirement: str
    families: frozenset[str]
    phrase: str
    patterns: tuple[re.Pattern, ...]
    carc: frozenset[str]
    rarc: frozenset[str]
    source: dict


@dataclass(frozen=True)
class ServiceGroup:
    id: str
    family: str
    label: str
    codes: frozenset[str]


@dataclass(frozen=True)
class GoldCardConfig:
    min_requests: int
    threshold: float
    window_days: int
    threshold_confirmed: bool
    window_confirmed: bool
    count_partial_as: str
    note: str


@dataclass(frozen=True)
class DenialData:
    version: str
    rules: tuple[ReasonRule, ...]
    groups: tuple[ServiceGroup, ...]
    window: int
    goldcard: GoldCardConfig

    def group_of(self, code: str) -> ServiceGroup | None:
        code = (code or "").strip().upper()
        return next((g for g in self.groups if code in g.codes), None)

    def family_of(self, code: str) -> str | None:
        group = self.group_of(code)
        return group.family if group else None

    def rule(self, rule_id: str) -> ReasonRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _read(path: Path, schema: dict, doc: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RulesError(f"{path.name}: cannot read JSON ({exc})") from None
    validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{doc}", "$defs": schema["$defs"]})
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.path])
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        raise RulesError(f"{path.name}: {where}: {err.message[:200]}")
    return data


def _rules(data: dict, name: str) -> tuple[ReasonRule, ...]:
    out = []
    seen: set[str] = set()
    for i, raw in enumerate(data["rules"]):
        if raw["id"] in seen:
            raise RulesError(f"{name}: rules/{i}/id: duplicate rule id {raw['id']!r}")
        seen.add(raw["id"])
        if raw["source"] not in data["sources"]:
            raise RulesError(f"{name}: rules/{i}/source: {raw['source']!r} is not in 'sources'")
        try:
            patterns = tuple(re.compile(p, re.IGNORECASE) for p in raw.get("text", ()))
        except re.error as exc:
            raise RulesError(f"{name}: rules/{i}/text: bad regular expression ({exc})") from None
        if not (patterns or raw.get("carc") or raw.get("rarc")):
            raise RulesError(f"{name}: rules/{i}: a rule needs text patterns or CARC/RARC codes")
        out.append(ReasonRule(
            id=raw["id"], requirement=raw["requirement"], families=frozenset(raw["families"]),
            phrase=raw["phrase"], patterns=patterns, carc=frozenset(raw.get("carc", ())),
            rarc=frozenset(raw.get("rarc", ())), source=data["sources"][raw["source"]],
        ))
    return tuple(out)


def load_denial_data(root: Path | None = None) -> DenialData:
    root = root or DENIALS_DIR
    schema = json.loads((DENIALS_DIR / "schema.json").read_text())
    rules = _read(root / "reason-rules.json", schema, "rulesDoc")
    groups = _read(root / "service-groups.json", schema, "groupsDoc")
    gold = _read(root / "goldcard.json", schema, "goldcardDoc")
    all_codes: dict[str, str] = {}
    for g in groups["groups"]:
        for code in g["codes"]:
            if code in all_codes:
                raise RulesError(f"service-groups.json: code {code} is in {all_codes[code]} and {g['id']}")
            all_codes[code] = g["id"]
    return DenialData(
        version=rules["version"],
        rules=_rules(rules, "reason-rules.json"),
        groups=tuple(ServiceGroup(g["id"], g["family"], g["label"], frozenset(g["codes"])) for g in groups["groups"]),
        window=groups["window"]["decisions"],
        goldcard=GoldCardConfig(
            min_requests=gold["min_requests"]["value"], threshold=gold["threshold"]["value"],
            window_days=gold["window_days"]["value"], threshold_confirmed=gold["threshold"]["confirmed"],
            window_confirmed=gold["window_days"]["confirmed"],
            count_partial_as=gold.get("count_partial_as", "not-affirmed"), note=gold["description"],
        ),
    )


@lru_cache(maxsize=1)
def default_data() -> DenialData:
    return load_denial_data()
