"""The sandbox payer's decision rules: data in ``rules.json`` (or ``PAINPA_HOME/payer-rules.json``
when present), evaluated in order, first match wins. Da Vinci PAS 2.2.1 leaves adjudication to the
payer; these rules only make every PAS outcome (A1 / A3 / A4) reachable on purpose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RULES = Path(__file__).with_name("rules.json")
_WHEN_KEYS = {"codes_any", "has_documentation", "states_any"}
_ACTIONS = {"A1", "A3", "A4"}


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class Decision:
    rule: str
    action: str
    reason: str | None
    reason_code: str | None
    validity_days: int


def load_rules(home: Path | None = None) -> list[dict]:
    path = home / "payer-rules.json" if home and (home / "payer-rules.json").exists() else DEFAULT_RULES
    try:
        rules = json.loads(path.read_text())["rules"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RulesError(f"{path}: cannot read rules ({exc})") from None
    for i, rule in enumerate(rules):
        where = f"{path}: rules[{i}]"
        if not isinstance(rule, dict) or rule.get("action") not in _ACTIONS or not isinstance(rule.get("id"), str):
            raise RulesError(f"{where} needs an id and an action among {sorted(_ACTIONS)}")
        unknown = set(rule.get("when", {})) - _WHEN_KEYS
        if unknown:
            raise RulesError(f"{where}.when has unknown keys {sorted(unknown)}")
        if rule["action"] == "A3" and not rule.get("reason"):
            raise RulesError(f"{where}: a denial needs a specific reason (CMS-0057-F)")
    return rules


def decide(rules: list[dict], *, codes: set[str], has_documentation: bool, state: str | None) -> Decision:
    for rule in rules:
        when = rule.get("when", {})
        if "codes_any" in when and not codes & set(when["codes_any"]):
            continue
        if "has_documentation" in when and when["has_documentation"] != has_documentation:
            continue
        if "states_any" in when and state not in when["states_any"]:
            continue
        return Decision(rule["id"], rule["action"], rule.get("reason"), rule.get("reason_code"),
                        int(rule.get("validity_days", 120)))
    return Decision("none", "A4", "No rule matched; pended for manual review.", None, 120)
