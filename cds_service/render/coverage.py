"""Determination → Da Vinci CRD coverage-information extension and its systemAction on a primary
hook (standards.md §2.3; CC-42..CC-49), shaped to the answered CRD version's vocabulary
(:mod:`cds_service.render.versions`: CRD 2.0.1 / 2.1.0 / 2.2.1 ext-coverage-information).

Rules that keep one payload valid under every answered version (standards.md §2.3 "Rules that
satisfy both versions"): ``pa-needed`` always present unless ``covered = not-covered``; ``info-needed``
iff some element is ``conditional``; ``reason`` (text) whenever ``doc-purpose`` or ``info-needed`` is
present; a single ``doc-needed`` ∈ {clinical, admin}; ``expiry-date`` only where the version defines
it (2.1+); ``satisfied-pa-id`` iff ``pa-needed = satisfied``.

Decisions:
- Primary hooks (CRD hooks.md "Hook categories": order-sign, appointment-book, order-dispatch) get a
  coverage-information systemAction; so does order-select for its selections, so that every order
  of an order-select (Inferno's preset included) is answered too. A secondary hook (order-select,
  CRD hook-19 / CC-48) never carries ``doc-needed`` clinical/admin, so the builder drops doc-needed
  and doc-purpose there.
- Orders painpa has no rules for (a NutritionOrder, a MedicationRequest, a DeviceRequest, a physical
  therapy ServiceRequest) still get one update per order (CC-42: never silence, never a claim of
  coverage): the version's "no determination" from its data — 2.0.1 / 2.1 have no
  ``indeterminate``, so ``covered = conditional``, ``pa-needed = conditional``, ``info-needed = OTH``;
  2.2 ``indeterminate`` for both — always with the reason text (2.2 q6, q9).
- ``coverage-assertion-id`` is a stable hash of order, coverage, date and the assertion, so order-select
  and order-sign for the same facts give the same id (CC-47: one id per coverage).
"""

from __future__ import annotations

import copy
import hashlib
from datetime import date

from cds_service.policy.model import Determination, ProgramKind, Status
from cds_service.render.versions import vocabulary

COVERAGE_INFO_URL = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
MAX_REASON = 1000
PRIMARY_HOOKS = ("order-sign", "appointment-book", "order-dispatch")
# Hooks answered with coverage-information: the primary ones (SHALL, hook-16 / hook-26) and
# order-select (a secondary hook MAY, hook-19), for its selections only.
COVERAGE_HOOKS = ("order-select", *PRIMARY_HOOKS)


def _code(url: str, value: str) -> dict:
    return {"url": url, "valueCode": value}


QUESTIONNAIRE_BASE = "http://painpa.org/fhir/Questionnaire/"


def documentation_forms(det: Determination) -> tuple[str, ...]:
    """The forms (Questionnaire ids) that document the determination's open clinical/admin
    requirements, in the policy's order: what CRD points DTR at and what ``$questionnaire-package``
    returns for the same order (one answer whichever door)."""
    return tuple(dict.fromkeys(r.form for r in det.requirements
                               if r.form and r.kind in ("clinical", "admin") and r.status is not Status.MET))


def questionnaire_subextensions(det: Determination) -> list[dict]:
    """CRD ``questionnaire`` sub-extensions (0..*, canonical; CRD 2.0.1 / 2.2 resp-38: with
    doc-needed, the Questionnaires to complete) naming the forms painpa's DTR service resolves."""
    return [{"url": "questionnaire", "valueCanonical": QUESTIONNAIRE_BASE + form} for form in documentation_forms(det)]


def assertion_id(det: Determination, today: date, covered: str, pa: str | None) -> str:
    basis = "|".join([det.order_ref, det.coverage_ref or "", today.isoformat(), covered, pa or "",
                      det.prior_auth.utn or "", det.policy_version])
    return "painpa-" + hashlib.sha256(basis.encode()).hexdigest()[:20]


def coverage_extension(det: Determination, *, hook: str, crd_version: str, today: date) -> dict | None:
    """The coverage-information extension for one determination, or None without a Coverage to cite
    (2.2: "If no coverage instance is available, the coverage-information extension cannot be returned")."""
    if not det.coverage_ref:
        return None
    vocab = vocabulary(crd_version)
    covered, pa = det.covered, det.pa_needed
    info = list(det.info_needed)
    reason = det.reason
    if det.program.kind is ProgramKind.OUT_OF_SCOPE:
        nd = vocab.no_determination
        covered, pa = nd["covered"], nd["pa-needed"]
        info = [nd["info-needed"]] if "info-needed" in nd else []
    if pa == "satisfied" and not det.prior_auth.utn:
        pa = "auth-needed"          # q5: satisfied-pa-id exists iff pa-needed = satisfied
    if covered == "not-covered":
        pa = None
    elif pa is None:
        pa = "conditional"
    doc_needed = det.doc_needed if hook in PRIMARY_HOOKS and det.doc_needed in ("clinical", "admin") else None
    conditional = "conditional" in (covered, pa, doc_needed)
    if conditional and not info:
        info = ["OTH"]
    if not conditional:
        info = []
    if (info or doc_needed or covered == "indeterminate") and not reason:
        reason = "See the accompanying cards for details."
    subs = [{"url": "coverage", "valueReference": {"reference": det.coverage_ref}}, _code("covered", covered)]
    if pa:
        subs.append(_code("pa-needed", pa))
    if doc_needed:
        subs.append(_code("doc-needed", doc_needed))
        subs.append(_code("doc-purpose", "withpa" if pa == "auth-needed" else "retain-doc"))
        subs += questionnaire_subextensions(det)
    subs += [_code("info-needed", code) for code in dict.fromkeys(info)]
    if reason and (info or doc_needed or covered in ("not-covered", "indeterminate") or pa == "indeterminate"):
        subs.append({"url": "reason", "valueCodeableConcept": {"text": reason[:MAX_REASON]}})
    if pa == "satisfied" and det.prior_auth.utn:
        subs.append({"url": "satisfied-pa-id", "valueString": det.prior_auth.utn})
        if vocab.allows("expiry-date") and det.prior_auth.expires:
            subs.append({"url": "expiry-date", "valueDate": det.prior_auth.expires.isoformat()})
    subs.append({"url": "date", "valueDate": today.isoformat()})
    subs.append({"url": "coverage-assertion-id", "valueString": assertion_id(det, today, covered, pa)})
    return {"url": COVERAGE_INFO_URL, "extension": subs}


def system_action(det: Determination, order: dict, *, hook: str, crd_version: str, today: date) -> dict | None:
    """An ``update`` of the whole draft order with the extension added (CH2 update = entire resource;
    CRD 2.2 resp-37: no other element changes — an earlier coverage-information extension is replaced)."""
    ext = coverage_extension(det, hook=hook, crd_version=crd_version, today=today)
    if ext is None or not isinstance(order, dict) or not order.get("id") or not order.get("resourceType"):
        return None
    if not isinstance(order.get("extension", []), list):
        return None                 # not FHIR: adding ours would mean rewriting the client's element
    resource = copy.deepcopy(order)
    kept = [e for e in resource.get("extension") or () if not (isinstance(e, dict) and e.get("url") == COVERAGE_INFO_URL)]
    resource["extension"] = [*kept, ext]
    return {"type": "update", "description": f"Add coverage information to {order['resourceType']}/{order['id']}",
            "resource": resource}


def strip_coverage_information(resource: dict) -> dict:
    """The resource without coverage-information extensions (CC-43 deep-equality helper)."""
    out = copy.deepcopy(resource)
    if not isinstance(out.get("extension", []), list):
        return out
    kept = [e for e in out.get("extension") or () if not (isinstance(e, dict) and e.get("url") == COVERAGE_INFO_URL)]
    if kept:
        out["extension"] = kept
    else:
        out.pop("extension", None)
    return out
