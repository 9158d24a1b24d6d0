"""Prior-authorization decisions on file, and the PA state of one order (ARCHITECTURE.md "A prior-
authorization decision on file is a ClaimResponse ..."; standards.md §4.2 PAS ClaimResponse, §4.4
where the authorization number lives; CMS WISeR guide v6.0 §4.3 120-day validity, §7.3 one UTN per
PAR covering every code of the service).

Sources, read once per evaluation:
- ``ClaimResponse`` with ``use = preauthorization``: number = ``preAuthRef`` or the PAS item
  ``reviewAction.number``; outcome = PAS ``reviewAction`` code (A1 certified / A6 modified → the
  ``addItem`` codes are affirmed; A3 not certified; A4 pended), else ``outcome`` (complete with a
  number = affirmed, queued = pended); validity = ``preAuthPeriod`` or the PAS item
  ``itemPreAuthPeriod``, else decision date + the program's validity days; codes = the request
  ``Claim``'s items (by ``itemSequence``) and ``addItem.productOrService``.
- ``satisfied-pa-id`` in a coverage-information extension on an earlier (non-draft) order: the payer
  already asserted ``pa-needed = satisfied`` for that order's codes. An order being evaluated is read
  in the version the caller sent (the hook's draft), never in the copy the record also holds under the
  same id: that copy's coverage-information is an earlier answer about this very order, not an
  earlier order, and counting both would credit the order twice.

When one of those sources could not be read (``record.incomplete``), "no decision on file" is not
known: the state is UNKNOWN (never NEEDED, which would be a guess), unless what was read already
proves an affirmed, unexpired decision covering every PA code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from cds_service.policy.chart import MALFORMED, _codings, to_date
from cds_service.policy.model import PAState, PriorAuthStatus
from cds_service.policy.orders import _billing
from cds_service.policy.record import PatientRecord

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REVIEW_ACTION = PAS + "extension-reviewAction"
REVIEW_ACTION_CODE = PAS + "extension-reviewActionCode"
ITEM_PERIOD = PAS + "extension-itemPreAuthPeriod"
COVERAGE_INFO = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
_ACTION = {"A1": "affirmed", "A3": "non-affirmed", "A4": "pended", "A6": "modified"}
# Where decisions are read from: the ClaimResponse, its request Claim (the codes), earlier orders.
SOURCES = ("ClaimResponse", "Claim", "ServiceRequest")


@dataclass
class Decision:
    ref: str
    number: str | None
    decided: date | None
    end: date | None
    codes: dict[str, str] = field(default_factory=dict)      # code -> affirmed | non-affirmed | pended
    source: str = "ClaimResponse"


def _ext(obj: dict, url: str) -> list[dict]:
    return [e for e in obj.get("extension") or () if isinstance(e, dict) and e.get("url") == url]


def _review(item: dict) -> tuple[str | None, str | None, date | None]:
    """(action, number, period end) from a PAS ClaimResponse item."""
    action = number = None
    end = None
    for period in _ext(item, ITEM_PERIOD):
        end = to_date((period.get("valuePeriod") or {}).get("end")) or end
    for adj in item.get("adjudication") or ():
        for ra in _ext(adj, REVIEW_ACTION):
            for sub in ra.get("extension") or ():
                if sub.get("url") == "number":
                    number = sub.get("valueString") or number
                elif sub.get("url") in (REVIEW_ACTION_CODE, "code"):
                    for coding in _codings(sub.get("valueCodeableConcept")):
                        action = _ACTION.get(str(coding.get("code")), action)
    for ra in _ext(item, REVIEW_ACTION):                 # tolerate the extension directly on the item
        for sub in ra.get("extension") or ():
            if sub.get("url") in (REVIEW_ACTION_CODE, "code"):
                for coding in _codings(sub.get("valueCodeableConcept")):
                    action = _ACTION.get(str(coding.get("code")), action)
            elif sub.get("url") == "number":
                number = sub.get("valueString") or number
    return action, number, end


def _from_claim_response(cr: dict, record: PatientRecord) -> Decision | None:
    if cr.get("use") != "preauthorization" or cr.get("status") in ("entered-in-error", "cancelled"):
        return None
    claim = record.resolve((cr.get("request") or {}).get("reference"))
    seq_codes: dict[int, tuple[str, ...]] = {}
    for item in (claim or {}).get("item") or ():
        seq_codes[item.get("sequence")] = _billing({"code": item.get("productOrService")})[0]
    number = cr.get("preAuthRef") if isinstance(cr.get("preAuthRef"), str) else None
    end = to_date((cr.get("preAuthPeriod") or {}).get("end"))
    decided = to_date(cr.get("created"))
    codes: dict[str, str] = {}
    any_action = False
    for item in cr.get("item") or ():
        action, num, item_end = _review(item)
        number, end = number or num, end or item_end
        any_action = any_action or action is not None
        for code in seq_codes.get(item.get("itemSequence"), ()):
            codes[code] = action or ""
    for add in cr.get("addItem") or ():
        action, num, item_end = _review(add)
        number, end = number or num, end or item_end
        any_action = True
        for code in _billing({"code": add.get("productOrService")})[0]:
            codes[code] = "affirmed" if action in (None, "affirmed", "modified") else action
    if not any_action:
        fallback = {"complete": "affirmed" if number else "", "queued": "pended", "partial": "pended"}
        verdict = fallback.get(cr.get("outcome") or "", "")
        codes = {c: verdict for c in (codes or {c: "" for cs in seq_codes.values() for c in cs})}
    codes = {c: ("non-affirmed" if v == "modified" else v) for c, v in codes.items()}
    return Decision(f"ClaimResponse/{cr.get('id')}", number, decided, end, codes)


def _from_earlier_order(order: dict, rid: str) -> Decision | None:
    if order.get("status") in ("draft", "entered-in-error", "revoked"):
        return None
    for ext in _ext(order, COVERAGE_INFO):
        subs = {s.get("url"): s for s in ext.get("extension") or () if isinstance(s, dict)}
        if (subs.get("pa-needed") or {}).get("valueCode") != "satisfied" or "satisfied-pa-id" not in subs:
            continue
        codes = _billing(order)[0]
        return Decision(f"ServiceRequest/{rid}", subs["satisfied-pa-id"].get("valueString"),
                        to_date((subs.get("date") or {}).get("valueDate")),
                        to_date((subs.get("expiry-date") or {}).get("valueDate")),
                        dict.fromkeys(codes, "affirmed"), "satisfied-pa-id")
    return None


def collect(record: PatientRecord, current: Iterable[dict] = ()) -> list[Decision]:
    """Every readable decision on file; a malformed ClaimResponse or order is skipped, not trusted.
    ``current``: the orders under evaluation, which supersede the record's copies with their ids."""
    out: list[Decision] = []
    orders = dict(record.resources.get("ServiceRequest", {}))
    for order in current:
        if isinstance(order, dict) and order.get("resourceType") == "ServiceRequest" and isinstance(order.get("id"), str):
            orders[order["id"]] = order
    sources = [(cr, lambda r: _from_claim_response(r, record)) for cr in record.resources.get("ClaimResponse", {}).values()]
    sources += [(sr, lambda r, rid=rid: _from_earlier_order(r, rid)) for rid, sr in orders.items()]
    for resource, read in sources:
        try:
            decision = read(resource)
        except MALFORMED:
            continue
        if decision is not None and isinstance(decision.number, str | None):
            out.append(decision)
    return out


def unread(record: PatientRecord) -> tuple[str, ...]:
    """The decision sources the EHR did not return."""
    return tuple(t for t in SOURCES if t in record.incomplete)


def status(pa_codes: tuple[str, ...], decisions: list[Decision], service_date: date, validity_days: int,
           exclude_ref: str = "", unread: tuple[str, ...] = ()) -> PriorAuthStatus:
    """The order's PA state from the decisions that name any of its PA codes; UNKNOWN when some
    source is ``unread`` and what was read does not already satisfy the order."""
    found = _judged(pa_codes, decisions, service_date, validity_days, exclude_ref)
    if unread and found.state is not PAState.SATISFIED:
        return PriorAuthStatus(PAState.UNKNOWN, missing_codes=pa_codes, unread=unread)
    return found


def _judged(pa_codes: tuple[str, ...], decisions: list[Decision], service_date: date, validity_days: int,
            exclude_ref: str) -> PriorAuthStatus:
    relevant = [d for d in decisions if d.ref != exclude_ref and set(d.codes) & set(pa_codes)]
    if not relevant:
        return PriorAuthStatus(PAState.NEEDED, missing_codes=pa_codes)

    def end_of(d: Decision) -> date | None:
        return d.end or (d.decided + timedelta(days=validity_days - 1) if d.decided else None)

    def judge(d: Decision) -> PriorAuthStatus:
        end = end_of(d)
        affirmed = tuple(c for c in pa_codes if d.codes.get(c) == "affirmed")
        missing = tuple(c for c in pa_codes if c not in affirmed)
        base = {"utn": d.number, "decision_ref": d.ref, "expires": end, "covered_codes": affirmed, "missing_codes": missing}
        states = {d.codes.get(c) for c in pa_codes if c in d.codes}
        if "non-affirmed" in states:
            return PriorAuthStatus(PAState.NON_AFFIRMED, **base)
        if "pended" in states or "" in states:
            return PriorAuthStatus(PAState.PENDED, **base)
        if end is None or end < service_date:
            return PriorAuthStatus(PAState.EXPIRED, **base)
        if missing:
            return PriorAuthStatus(PAState.PARTIAL, **base)
        return PriorAuthStatus(PAState.SATISFIED, **base) if d.number else PriorAuthStatus(PAState.PENDED, **base)

    judged = [judge(d) for d in sorted(relevant, key=lambda d: (d.decided or date.min, d.ref), reverse=True)]
    for state in (PAState.SATISFIED,):
        for result in judged:
            if result.state is state:
                return result
    return judged[0]


def follow_on(pa_codes: tuple[str, ...], decisions: list[Decision], trials: Iterable[date],
              exclude_ref: str = "") -> PriorAuthStatus | None:
    """The affirmed decision of a trial already done, when the program carries it over to the permanent
    implant (OPD program: the trial's UTN goes on the permanent implantation claim). No expiry: the
    MACs state none for the permanent claim."""
    done = sorted(trials)
    for d in sorted(decisions, key=lambda d: (d.decided or date.min, d.ref), reverse=True):
        if d.ref == exclude_ref or not d.number or d.decided is None:
            continue
        if all(d.codes.get(c) == "affirmed" for c in pa_codes) and any(t >= d.decided for t in done):
            return PriorAuthStatus(PAState.SATISFIED, utn=d.number, decision_ref=d.ref, covered_codes=pa_codes)
    return None
