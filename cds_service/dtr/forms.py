"""painpa's fix forms as DTR Questionnaires (DTR 2.2.0 StructureDefinition-dtr-std-questionnaire,
specification.html#pre-population; SDC STU3 expression-based population).

The forms in ``fhir_profiles/questionnaires/`` are written for painpa's SMART app: they read painpa's
own launch variables (``%record``, ``%sections``, ``%order``…) and carry SDC extraction templates.
:func:`dtr_view` derives from each the Questionnaire a DTR client receives:

- ``meta.profile`` = dtr-std-questionnaire; SDC ``launchContext`` patient / user / encounter (the
  contexts a DTR launch provides, DTR spec-112);
- painpa's pre-population replaced by ``fhir_profiles/questionnaires/dtr/population.json``:
  ``variable`` extensions in ``application/x-fhir-query`` and FHIRPath ``initialExpression`` /
  ``candidateExpression`` over them (DTR spec-60/61: FHIRPath is named as FHIRPath, not CQL);
  a variable's ``codes_from`` turns policy ValueSets into its ``code`` search parameter;
- ``%today`` → ``today()``; expressions over painpa-only variables, the extraction templates and
  painpa's own extensions are removed (a DTR client could not evaluate them);
- ``reference`` items get ``questionnaire-referenceResource`` (dtrq-4);
- a CodeSystem named as ``answerValueSet`` is offered as a ValueSet of all its codes (an R4
  ``answerValueSet`` is a ValueSet canonical).

The same stored form is the one source for both; a form is never copied by hand.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "fhir_profiles"
QDIR = ROOT / "questionnaires"
DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/"
STD_PROFILE = DTR + "dtr-std-questionnaire"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
INITIAL = SDC + "sdc-questionnaire-initialExpression"
CANDIDATE = SDC + "sdc-questionnaire-candidateExpression"
ANSWER_EXPR = SDC + "sdc-questionnaire-answerExpression"
LAUNCH_CONTEXT = SDC + "sdc-questionnaire-launchContext"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
REFERENCE_RESOURCE = "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource"
X_FHIR_QUERY = "application/x-fhir-query"
FHIRPATH = "text/fhirpath"
PAINPA_EXT = "http://painpa.org/fhir/StructureDefinition/"
# SDC STU3 launchContext codes (CodeSystem launchContext) and the resource type each names.
LAUNCH = (("patient", "Patient", "The patient the order is for"),
          ("user", "Practitioner", "The clinician completing the form"),
          ("encounter", "Encounter", "The encounter of the order, when there is one"))
_PAINPA_VARIABLE = re.compile(r"%(record|sections|order|orderRef|orderCodes|coverage|insurer|summary|subject|"
                              r"encounter|author|attestationCode|ref_[A-Za-z0-9_-]+)\b")


class UnknownQuestionnaire(LookupError):
    pass


@lru_cache(maxsize=1)
def stored_forms() -> dict[str, dict]:
    """The active forms by id, as stored (the SMART app renders these)."""
    forms = {}
    for path in sorted(QDIR.glob("*.json")):
        q = json.loads(path.read_text())
        if q.get("resourceType") == "Questionnaire" and q.get("status") == "active":
            forms[q["id"]] = q
    return forms


@lru_cache(maxsize=1)
def _dtr_data() -> dict:
    return json.loads((QDIR / "dtr" / "population.json").read_text())


def population() -> dict[str, dict]:
    return _dtr_data()["forms"]


@lru_cache(maxsize=1)
def terminology() -> dict[str, dict]:
    """fhir_profiles/valuesets by canonical url (ValueSets and the CodeSystems painpa defines)."""
    out = {}
    for path in (ROOT / "valuesets").glob("*.json"):
        res = json.loads(path.read_text())
        if isinstance(res, dict) and res.get("url"):
            out[res["url"]] = res
    return out


def _by_id(vs_id: str) -> dict:
    return next(r for r in terminology().values() if r.get("id") == vs_id and r["resourceType"] == "ValueSet")


def code_tokens(vs_ids: list[str]) -> str:
    """``system|code,…`` for every code of the named policy ValueSets (FHIR search token list)."""
    tokens = [f"{inc['system']}|{c['code']}" for vs_id in vs_ids
              for inc in _by_id(vs_id)["compose"]["include"] for c in inc.get("concept") or ()]
    return ",".join(dict.fromkeys(tokens))


def codesystem_valueset(cs: dict) -> dict:
    """All codes of a CodeSystem as a ValueSet with its expansion (no terminology server needed)."""
    contains = [{"system": cs["url"], "code": c["code"], "display": c.get("display", c["code"])} for c in cs.get("concept") or ()]
    return {"resourceType": "ValueSet", "id": cs["id"] + "-all", "url": cs["url"].replace("/CodeSystem/", "/ValueSet/") + "-all",
            "version": cs.get("version"), "name": cs.get("name", "Codes") + "All", "title": f"All codes of {cs.get('title', cs['url'])}",
            "status": "active", "compose": {"include": [{"system": cs["url"]}]},
            "expansion": {"timestamp": (cs.get("date") or "2026-01-01") + "T00:00:00Z", "contains": contains}}


def _expr(url: str, expression: str, language: str = FHIRPATH, name: str | None = None) -> dict:
    value = {"language": language, "expression": expression}
    if name:
        value = {"name": name, **value}
    return {"url": url, "valueExpression": value}


def _keep(ext: dict) -> bool:
    url = ext.get("url", "")
    if url.startswith(PAINPA_EXT) or "templateExtract" in url:
        return False
    expression = (ext.get("valueExpression") or {}).get("expression") or ext.get("valueString") or ""
    return not (url.startswith(SDC) and _PAINPA_VARIABLE.search(expression))


def _clean(node: dict) -> None:
    for key in [k for k in node if k.startswith("_")]:
        node.pop(key)                     # primitive extensions carry extraction values only
    if "extension" in node:
        node["extension"] = [e for e in node["extension"] if _keep(e)]
        for ext in node["extension"]:
            if (ext.get("valueExpression") or {}).get("expression") == "%today":
                ext["valueExpression"]["expression"] = "today()"
        if not node["extension"]:
            node.pop("extension")
    for opt in node.get("answerOption") or ():
        _clean(opt)


def _items(items: list[dict]):
    for item in items or ():
        yield item
        yield from _items(item.get("item") or [])


def dtr_view(form: dict) -> dict:
    """The DTR Questionnaire derived from a stored form (module docstring)."""
    q = copy.deepcopy(form)
    rules = population().get(q["id"], {})
    q["meta"] = {"profile": [STD_PROFILE]}
    q["contained"] = [c for c in q.get("contained") or () if c.get("resourceType") == "ValueSet"]
    if not q["contained"]:
        q.pop("contained")
    _clean(q)
    ext = q.setdefault("extension", [])
    for code, rtype, text in LAUNCH:
        ext.append({"url": LAUNCH_CONTEXT, "extension": [
            {"url": "name", "valueCoding": {"system": "http://hl7.org/fhir/uv/sdc/CodeSystem/launchContext", "code": code}},
            {"url": "type", "valueCode": rtype}, {"url": "description", "valueString": text}]})
    for name, spec in rules.get("variables", {}).items():
        query = spec["query"] + (f"&code={code_tokens(spec['codes_from'])}" if spec.get("codes_from") else "")
        ext.append(_expr(VARIABLE, query, X_FHIR_QUERY, name))
    for item in _items(q.get("item") or []):
        _clean(item)
        if expression := rules.get("initial", {}).get(item["linkId"]):
            item.setdefault("extension", []).append(_expr(INITIAL, expression))
        if cand := rules.get("candidates", {}).get(item["linkId"]):
            item.setdefault("extension", []).append(_expr(CANDIDATE, cand["expression"]))
        if item.get("type") == "reference":
            rtype = cand["resource"] if cand else "Resource"
            item.setdefault("extension", []).append({"url": REFERENCE_RESOURCE, "valueCode": rtype})
        canonical = item.get("answerValueSet", "")
        if (cs := terminology().get(canonical)) and cs["resourceType"] == "CodeSystem":
            item["answerValueSet"] = codesystem_valueset(cs)["url"]
    return q


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict]:
    """Every DTR Questionnaire painpa serves, by id (``not_served`` in population.json says which
    forms stay with painpa's own app, and why). Built once; callers never modify what it returns."""
    return {qid: dtr_view(form) for qid, form in stored_forms().items() if qid not in _dtr_data()["not_served"]}


def by_canonical(canonical: str) -> dict:
    """Resolve ``url`` or ``url|version``; an unknown one raises :class:`UnknownQuestionnaire`."""
    url, _, version = canonical.partition("|")
    for q in catalogue().values():
        if q["url"] == url and (not version or q.get("version") == version):
            return q
    raise UnknownQuestionnaire(canonical)


def valuesets_for(q: dict) -> list[dict]:
    """The ValueSets a Questionnaire's items name (DTR-QPackageBundle ``valueSet`` entries), each
    with its codes so that a client needs no terminology server."""
    out: dict[str, dict] = {}
    for item in _items(q.get("item") or []):
        canonical = (item.get("answerValueSet") or "").split("|")[0]
        if not canonical or canonical.startswith("#") or canonical in out:
            continue
        if canonical.endswith("-all"):
            cs = terminology().get(canonical[: -len("-all")].replace("/ValueSet/", "/CodeSystem/"))
            if cs:
                out[canonical] = codesystem_valueset(cs)
        elif vs := terminology().get(canonical):
            out[canonical] = {k: v for k, v in vs.items() if k != "extension"}
    return list(out.values())
