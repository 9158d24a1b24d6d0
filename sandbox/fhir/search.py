"""Search (FHIR R4 §3.1.1 Search): type-level GET/POST ``_search`` answered as a searchset Bundle
with ``total``, ``self``/``next`` links, ``_count`` paging, ``_sort`` on date parameters,
``_include`` of referenced resources (``search.mode = include``) and one level of chaining.

Unsupported parameters (search.html#errors): under ``Prefer: handling=strict`` a 400 naming the
parameter; otherwise (lenient) the parameter is not applied *and* left out of the ``self`` link, which
"SHALL" show what was executed, so a client sees its filter was not. A parameter is never applied as
"match everything" while the link says it was.

Chaining (search.html#chaining): ``patient.identifier=…``, ``subject:Patient.identifier=…``: a
reference parameter, the target type (the parameter's own, or the ``:Type`` modifier when it can
point to several), then any parameter this server supports on that type. Deeper chains, ``_has`` and
reverse chaining are unsupported parameters.
"""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy.orm import Session

from sandbox.fhir import store
from sandbox.fhir.match import check_value, matches, sort_key
from sandbox.fhir.outcome import FhirError
from sandbox.fhir.params import PARAMS, Param, compartment_patient, lookup, values

DEFAULT_COUNT = 50
MAX_COUNT = 200
_IGNORED = {"_format", "_pretty", "_total", "_elements"}


def _int(raw: str, name: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise FhirError(400, f"{name}={raw!r} is not an integer", "value") from None
    return max(lo, min(hi, value))


def search(s: Session, rtype: str, params: list[tuple[str, str]], base: str, *, strict: bool = False,
           compartment: str | None = None) -> dict:
    """Run a search. ``compartment`` (a patient id from a patient-scoped token) limits what is seen."""
    count, offset, sorts, includes, summary = DEFAULT_COUNT, 0, [], [], None
    criteria: list[tuple[str, str | None, str]] = []
    chains: list[tuple[str, Param, str, set[str]]] = []
    executed: list[tuple[str, str]] = []
    for name, raw in params:
        bare, _, modifier = name.partition(":")
        if name == "_count":
            count = _int(raw, "_count", 0, MAX_COUNT)
        elif name == "_offset":
            offset = _int(raw, "_offset", 0, 10**9)
            continue
        elif name == "_sort":
            sorts = [_sort_param(rtype, key) for key in raw.split(",") if key]
        elif name == "_include":
            includes.append(_include_param(rtype, raw))
        elif name == "_summary" and raw == "count":
            summary = "count"
        elif bare in _IGNORED:
            continue
        elif "." in name:
            chain = _chain(s, rtype, name, raw)
            if isinstance(chain, str):
                if strict:
                    raise FhirError(400, f"Search parameter {name!r}: {chain}", "not-supported")
                continue
            chains.append(chain)
        elif lookup(rtype, bare) is not None:
            check_value(lookup(rtype, bare), raw)
            criteria.append((bare, modifier or None, raw))
        elif strict:
            raise FhirError(400, f"Search parameter {name!r} is not supported for {rtype}", "not-supported")
        else:
            continue
        executed.append((name, raw))

    patient_ids = {_ref_id(raw) for bare, mod, raw in criteria if bare in ("patient", "subject", "beneficiary")
                   and mod is None and "," not in raw}
    patient_ids |= {next(iter(ids)) for name, _, target, ids in chains
                    if target == "Patient" and name in ("patient", "subject", "beneficiary") and len(ids) == 1}
    sql_patient = compartment or (next(iter(patient_ids)) if len(patient_ids) == 1 else None)
    if (compartment and patient_ids and patient_ids != {compartment}) or any(not ids for *_, ids in chains):
        rows: list[dict] = []  # another patient than the token's, or a chain whose targets match nothing
    else:
        rows = [r for r in store.candidates(s, rtype, sql_patient)
                if all(matches(r, lookup(rtype, n), raw, mod) for n, mod, raw in criteria)
                and all(_refers(r, param, target, ids) for _, param, target, ids in chains)]
    for descending, param in reversed(sorts):
        rows.sort(key=lambda r, p=param: sort_key(r, p), reverse=descending)

    bundle: dict = {"resourceType": "Bundle", "type": "searchset", "total": len(rows)}
    self_url = f"{base}/{rtype}" + (f"?{urlencode(executed)}" if executed else "")
    bundle["link"] = [{"relation": "self", "url": self_url}]
    if summary == "count":
        return bundle
    page = rows[offset:offset + count]
    if offset + count < len(rows):
        nxt = [*executed, ("_offset", str(offset + count))]
        if not any(n == "_count" for n, _ in executed):
            nxt.append(("_count", str(count)))
        bundle["link"].append({"relation": "next", "url": f"{base}/{rtype}?{urlencode(nxt)}"})
    entries = [{"fullUrl": f"{base}/{rtype}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in page]
    entries += _included(s, page, includes, base, compartment)
    bundle["entry"] = entries
    return bundle


def _chain(s: Session, rtype: str, name: str, raw: str):
    """``(reference param name, param, target type, ids of the targets that match)``, or why not."""
    head, _, tail = name.partition(".")
    ref_name, _, target_type = head.partition(":")
    param = PARAMS.get(rtype, {}).get(ref_name)
    if param is None or param.kind != "reference":
        return f"{ref_name!r} is not a reference parameter of {rtype} this server supports"
    target = target_type or param.target
    if target is None:
        return f"{ref_name!r} may refer to several types: name one, e.g. {ref_name}:Patient.{tail}"
    if param.target and target != param.target:
        return f"{ref_name!r} refers to {param.target} only"
    if "." in tail:
        return "only one level of chaining is supported"
    chained, _, modifier = tail.partition(":")
    chained_param = lookup(target, chained) if target in PARAMS else None
    if chained_param is None:
        return f"{chained!r} is not a search parameter of {target} this server supports"
    check_value(chained_param, raw)
    ids = {r["id"] for r in store.candidates(s, target, None) if matches(r, chained_param, raw, modifier or None)}
    return ref_name, param, target, ids


def _refers(resource: dict, param: Param, target: str, ids: set[str]) -> bool:
    for ref in (v for path in param.paths for v in values(resource, path)):
        parts = (ref.get("reference", "") if isinstance(ref, dict) else "").rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == target and parts[-1] in ids:
            return True
    return False


def _ref_id(raw: str) -> str:
    return raw.rstrip("/").split("/")[-1]


def _sort_param(rtype: str, key: str):
    descending = key.startswith("-")
    name = key.lstrip("-")
    param = lookup(rtype, name)
    if param is None or param.kind != "date":
        raise FhirError(400, f"_sort={key!r}: only date parameters of {rtype} can be sorted on", "not-supported")
    return descending, param


def _include_param(rtype: str, raw: str) -> tuple[str, str | None]:
    parts = raw.split(":")
    if len(parts) not in (2, 3) or parts[0] != rtype:
        raise FhirError(400, f"_include={raw!r} must be {rtype}:<reference parameter>[:<type>]", "value")
    param = PARAMS.get(rtype, {}).get(parts[1])
    if param is None or param.kind != "reference":
        raise FhirError(400, f"_include={raw!r}: {parts[1]!r} is not a reference parameter of {rtype}", "value")
    return parts[1], (parts[2] if len(parts) == 3 else None)


def _included(s: Session, page: list[dict], includes: list, base: str, compartment: str | None) -> list[dict]:
    seen = {(r["resourceType"], r["id"]) for r in page}
    out = []
    for name, only_type in includes:
        for resource in page:
            param = PARAMS[resource["resourceType"]][name]
            for ref in (v for path in param.paths for v in values(resource, path)):
                parts = (ref.get("reference", "") if isinstance(ref, dict) else "").split("/")
                if len(parts) < 2 or (only_type and parts[-2] != only_type) or (parts[-2], parts[-1]) in seen:
                    continue
                try:
                    target = store.read(s, parts[-2], parts[-1])
                except FhirError:
                    continue  # a dangling reference is not an error for the search
                if compartment and compartment_patient(target) not in (None, compartment):
                    continue
                seen.add((parts[-2], parts[-1]))
                out.append({"fullUrl": f"{base}/{parts[-2]}/{parts[-1]}", "resource": target,
                            "search": {"mode": "include"}})
    return out
