"""What the policy needs to know about one draft order, read in FHIR R4 terms.

- Codes: CPT/HCPCS codings of ``code`` and ``orderDetail`` (CRD 2.x: clients SHOULD send a billing
  coding; standards.md §2.8). Two-character CPT/HCPCS codings and ``code:MOD`` suffixes are modifiers.
- Date of service: ``occurrence[x]``; when absent, ``today`` (flagged as assumed).
- Setting: ``ServiceRequest.locationCode`` coded with CMS place-of-service codes (CRD 2.2.1 sends the
  place of service there), else the Location's ``type`` as below.
- Service state and setting: ``locationReference`` → Location (address.state; type coded with CMS
  place-of-service codes), else the performer's / requester's PractitionerRole.location, else the
  tenant default (the registered client's default state and place of service, cds_service/clients.py;
  ARCHITECTURE.md).
- Coverage: ``insurance`` → Coverage, else the record's first active Coverage. Coverage kind from
  Coverage.type in the Source of Payment Typology (policy data ``coverage_kinds``); payer identifiers
  from ``payor`` (Reference.identifier or the resolved Organization.identifier).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_service.policy.chart import _codings, text_of, to_date
from cds_service.policy.record import PatientRecord
from cds_service.policy.valuesets import norm_system

BILLING_SYSTEMS = {"http://www.ama-assn.org/go/cpt", "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", ""}


@dataclass(frozen=True)
class OrderFacts:
    ref: str
    resource_type: str
    codes: tuple[str, ...]
    modifiers: tuple[str, ...]
    service_date: date
    date_assumed: bool
    state: str | None
    setting: str | None
    coverage: dict | None
    coverage_kind: str            # medicare-ffs | medicare-advantage | commercial | unknown
    payer_ids: tuple[tuple[str, str], ...]
    payer_name: str
    coverage_unread: bool = False  # no Coverage because the EHR's Coverage query failed (not "none on file")


def _billing(order: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    codings = list(_codings(order.get("code")))
    for detail in order.get("orderDetail") or ():
        codings += _codings(detail)
    codes: list[str] = []
    mods: list[str] = []
    for coding in codings:
        system, code = norm_system(coding.get("system")), coding.get("code")
        if system not in BILLING_SYSTEMS or not isinstance(code, str) or not code.strip():
            continue
        code = code.strip().upper()
        base, _, suffix = code.replace("-", ":").partition(":")
        if len(base) == 2:
            mods.append(base)
            continue
        if len(base) != 5 or (system == "" and not base[:4].isdigit() and not base[1:].isdigit()):
            continue
        if base not in codes:
            codes.append(base)
        if suffix:
            mods.extend(m for m in suffix.split(":") if m)
    return tuple(codes), tuple(dict.fromkeys(mods))


def _service_date(order: dict, today: date) -> tuple[date, bool]:
    for key in ("occurrenceDateTime",):
        if d := to_date(order.get(key)):
            return d, False
    period = order.get("occurrencePeriod") or {}
    if d := to_date(period.get("start")):
        return d, False
    for event in (order.get("occurrenceTiming") or {}).get("event") or ():
        if d := to_date(event):
            return d, False
    return today, True


def _resolve(record: PatientRecord, container: dict, ref: object) -> dict | None:
    if isinstance(ref, dict):
        ref = ref.get("reference")
    if isinstance(ref, str) and ref.startswith("#"):
        for contained in container.get("contained") or ():
            if isinstance(contained, dict) and contained.get("id") == ref[1:]:
                return contained
        return None
    return record.resolve(ref) if isinstance(ref, str) else None


def _pos_setting(concepts: object, pos_systems: set[str], settings: dict[str, str]) -> str | None:
    """The setting of the first CMS place-of-service coding among ``concepts``."""
    for concept in concepts if isinstance(concepts, list) else ():
        for coding in _codings(concept):
            if coding.get("system") in pos_systems and coding.get("code") in settings:
                return settings[coding["code"]]
    return None


def _location_facts(loc: dict | None, pos_systems: set[str], settings: dict[str, str]) -> tuple[str | None, str | None]:
    if not isinstance(loc, dict):
        return None, None
    state = ((loc.get("address") or {}).get("state") or "").strip().upper() or None
    if state and len(state) != 2:
        state = None
    return state, _pos_setting(loc.get("type"), pos_systems, settings)


def _locations(record: PatientRecord, order: dict) -> list[dict]:
    """Candidate Locations in priority order: the order's own, then performer/requester roles'."""
    out = [_resolve(record, order, r) for r in order.get("locationReference") or ()]
    for ref in [*(order.get("performer") or ()), order.get("requester")]:
        role = _resolve(record, order, ref)
        if isinstance(role, dict) and role.get("resourceType") == "PractitionerRole":
            out += [_resolve(record, role, r) for r in role.get("location") or ()]
    return [loc for loc in out if isinstance(loc, dict)]


def _coverage(record: PatientRecord, order: dict) -> dict | None:
    for ref in order.get("insurance") or ():
        cov = _resolve(record, order, ref)
        if isinstance(cov, dict) and cov.get("resourceType") == "Coverage":
            return cov
    active = [c for c in record.coverages if c.get("status", "active") == "active"]
    return (active or record.coverages or [None])[0]


def coverage_kind(coverage: dict | None, rules: dict) -> str:
    if not coverage:
        return "unknown"
    systems = set(rules["sopt_systems"])
    codes = [c.get("code") for c in _codings(coverage.get("type")) if c.get("system") in systems and c.get("code")]
    if not codes:
        return "unknown"
    best: tuple[int, str] | None = None
    for code in codes:
        for rule in rules["rules"]:
            hit = code == rule["code"] if rule["match"] == "exact" else code.startswith(rule["code"])
            if hit and (best is None or len(rule["code"]) > best[0]):
                best = (len(rule["code"]), rule["kind"])
    return best[1] if best else rules["default"]


def _payer(record: PatientRecord, coverage: dict | None) -> tuple[tuple[tuple[str, str], ...], str]:
    ids: list[tuple[str, str]] = []
    name = ""
    for payor in (coverage or {}).get("payor") or ():
        if not isinstance(payor, dict):
            continue
        idents = [payor.get("identifier")] if isinstance(payor.get("identifier"), dict) else []
        org = _resolve(record, coverage, payor)
        if isinstance(org, dict):
            idents += [i for i in org.get("identifier") or () if isinstance(i, dict)]
            name = name or text_of(org.get("name"))
        name = name or text_of(payor.get("display"))
        ids += [(i.get("system") or "", i["value"]) for i in idents if isinstance(i.get("value"), str)]
    return tuple(ids), name


def read_order(order: dict, record: PatientRecord, programs: dict | None, today: date) -> OrderFacts:
    rtype = str(order.get("resourceType") or "Unknown")
    codes, mods = _billing(order) if rtype == "ServiceRequest" else ((), ())
    when, assumed = _service_date(order, today)
    pos = (programs or {}).get("places_of_service") or {"systems": [], "settings": {}}
    state = None
    setting = _pos_setting(order.get("locationCode"), set(pos["systems"]), pos["settings"])
    for loc in _locations(record, order):
        s, st = _location_facts(loc, set(pos["systems"]), pos["settings"])
        state, setting = state or s, setting or st
    defaults = record.defaults
    state = state or (defaults.state.upper() if defaults.state else None)
    setting = setting or pos["settings"].get(defaults.place_of_service or "")
    coverage = _coverage(record, order)
    kind = coverage_kind(coverage, programs["coverage_kinds"]) if programs else "unknown"
    payer_ids, payer_name = _payer(record, coverage)
    return OrderFacts(f"{rtype}/{order.get('id')}", rtype, codes, mods, when, assumed, state, setting,
                      coverage, kind, payer_ids, payer_name,
                      coverage_unread=coverage is None and "Coverage" in record.incomplete)


def named_coverage(order: dict) -> str | None:
    """The order's own relative ``insurance`` reference (``Coverage/id``), for citing a Coverage the
    EHR names but did not return."""
    for ref in order.get("insurance") or ():
        text = ref.get("reference") if isinstance(ref, dict) else None
        parts = text.split("/") if isinstance(text, str) else []
        if len(parts) == 2 and parts[0] == "Coverage" and parts[1]:
            return text
    return None
