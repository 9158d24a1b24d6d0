"""The sandbox payer's decision rules: data in ``rules.json`` (or ``PAINPA_HOME/payer-rules.json``
when present), evaluated in order, first match wins. Da Vinci PAS 2.2.1 leaves adjudication to the
payer; these rules make every PAS outcome reachable on purpose: A1 certified, A3 not certified,
A4 pended (§"Pended authorizations": the final decision follows later and is announced to
subscribers of the PAS subscription topic) and A6 modified.

A pended rule names its follow-up in ``then`` (the final action, its reason and after how many
seconds; the file's ``final_after_seconds`` is the default). Each rule cites its source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sandbox.payer.facts import Facts

DEFAULT_RULES = Path(__file__).with_name("rules.json")
_WHEN_KEYS = {"codes_any", "has_documentation", "states_any", "evidence_missing", "imaging_outdated", "units_over"}
_ACTIONS = {"A1", "A3", "A4", "A6"}
_FINAL = {"A1", "A3", "A6"}


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class FollowUp:
    action: str
    reason: str | None
    reason_code: str | None
    after_seconds: float


@dataclass(frozen=True)
class Decision:
    rule: str
    action: str
    reason: str | None
    reason_code: str | None
    validity_days: int
    then: FollowUp | None = None
    modify: dict | None = None      # A6: {"codes": [...], "max": n}, the items certified for n units


def load_rules(home: Path | None = None) -> dict:
    """``{"rules": [...], "final_after_seconds": n}``, checked."""
    path = home / "payer-rules.json" if home and (home / "payer-rules.json").exists() else DEFAULT_RULES
    try:
        data = json.loads(path.read_text())
        rules = data["rules"]
        default_delay = float(data.get("final_after_seconds", 15))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RulesError(f"{path}: cannot read rules ({exc})") from None
    for i, rule in enumerate(rules):
        where = f"{path}: rules[{i}]"
        if not isinstance(rule, dict) or rule.get("action") not in _ACTIONS or not isinstance(rule.get("id"), str):
            raise RulesError(f"{where} needs an id and an action among {sorted(_ACTIONS)}")
        if not isinstance(rule.get("source"), str) or not rule["source"].strip():
            raise RulesError(f"{where} ({rule['id']}) needs a source: the policy or guide it applies")
        unknown = set(rule.get("when", {})) - _WHEN_KEYS
        if unknown:
            raise RulesError(f"{where}.when has unknown keys {sorted(unknown)}")
        if rule["action"] == "A3" and not rule.get("reason"):
            raise RulesError(f"{where}: a denial needs a specific reason (CMS-0057-F)")
        units = rule.get("when", {}).get("units_over")
        if rule["action"] == "A6" and not (isinstance(units, dict) and units.get("codes")
                                           and isinstance(units.get("max"), int)):
            raise RulesError(f"{where}: a modification (A6) needs when.units_over {{codes, max}}: what it changes")
        then = rule.get("then")
        if then is not None:
            if rule["action"] != "A4" or not isinstance(then, dict) or then.get("action") not in _FINAL:
                raise RulesError(f"{where}.then: only a pended (A4) rule has a follow-up, with an action among "
                                 f"{sorted(_FINAL)}")
            if then["action"] == "A3" and not then.get("reason"):
                raise RulesError(f"{where}.then: a denial needs a specific reason (CMS-0057-F)")
            try:
                then.setdefault("after_seconds", default_delay)
                if float(then["after_seconds"]) < 0:
                    raise ValueError
            except (TypeError, ValueError):
                raise RulesError(f"{where}.then.after_seconds must be a number of seconds >= 0") from None
    return {"rules": rules, "final_after_seconds": default_delay}


def _matches(when: dict, facts: Facts) -> bool:
    if "codes_any" in when and not facts.codes & set(when["codes_any"]):
        return False
    if "has_documentation" in when and when["has_documentation"] != facts.has_documentation:
        return False
    if "states_any" in when and facts.state not in when["states_any"]:
        return False
    if "evidence_missing" in when and facts.has_evidence(when["evidence_missing"]):
        return False
    if "units_over" in when and not facts.units_over(set(when["units_over"]["codes"]), when["units_over"]["max"]):
        return False
    return not ("imaging_outdated" in when and facts.imaging_current(when["imaging_outdated"]))


def decide(rules: dict, facts: Facts) -> Decision:
    for rule in rules["rules"]:
        if not _matches(rule.get("when", {}), facts):
            continue
        then = rule.get("then")
        follow = FollowUp(then["action"], then.get("reason"), then.get("reason_code"),
                          float(then["after_seconds"])) if then else None
        modify = rule["when"]["units_over"] if rule["action"] == "A6" else None
        return Decision(rule["id"], rule["action"], rule.get("reason"), rule.get("reason_code"),
                        int(rule.get("validity_days", 120)), follow, modify)
    return Decision("none", "A4", "No rule matched; pended for manual review.", None, 120)
