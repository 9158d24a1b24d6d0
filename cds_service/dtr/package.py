"""``$questionnaire-package`` (DTR 2.2.0 OperationDefinition-questionnaire-package; profiles
dtr-qpackage-input-parameters, dtr-qpackage-output-parameters, DTR-QPackageBundle;
specification.html "Retrieving Questionnaire Packages").

Input: ``coverage`` 1..1 (a Coverage resource), ``order`` 0..* (request resources), ``questionnaire``
0..* (canonicals), ``context`` 0..1 (the CRD coverage-assertion-id), ``changedsince`` 0..1; dtr-1: at
least one of order / questionnaire / context. Other resource-valued parameters (a Location, the
Patient…) are read as the orders' context, as a CRD prefetch would be.

Which forms: the orders are assessed by the one readiness assessment with only what the call
carries (the payer service does not read the chart: the DTR client pre-populates from it), and the
forms of the open documentation requirements are returned — the same forms CRD names in
coverage-information ``questionnaire`` for the same order. Questionnaire canonicals limit the
answer to those forms (spec "if Questionnaire canonicals are present ... limit what questionnaires
are returned").

Output: one collection Bundle per form (Questionnaire first, dtrb-1; its ValueSets; a QuestionnaireResponse
in progress, required by DTR 2.2.0 and allowed by 2.1.0, carrying qr-coverage, qr-context and
intendedUse; no Library: painpa ships FHIRPath, not CQL, see docs/dtr.md) and, when some order was
left out, an ``outcome`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cds_service import errors
from cds_service.dtr import forms
from cds_service.errors import Refused
from cds_service.policy.model import Determination, ProgramKind
from cds_service.render.coverage import documentation_forms

DTR_EXT = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/"
CRD_TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
ORDER_TYPES = {"Appointment", "Encounter", "CommunicationRequest", "DeviceRequest", "MedicationRequest",
               "NutritionOrder", "ServiceRequest", "SupplyRequest", "VisionPrescription"}
MAX_PARAMETERS = 100


class PackageRefused(Refused):
    """The input cannot be answered as sent (400 ``invalid`` / 422 ``processing``)."""


@dataclass(frozen=True)
class PackageInput:
    coverage: dict
    patient_id: str
    orders: tuple[dict, ...]
    canonicals: tuple[str, ...]
    context: str | None
    changed_since: datetime | None
    others: tuple[dict, ...]


def _resource(param: dict, name: str, i: int) -> dict:
    res = param.get("resource")
    if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
        raise PackageRefused(f"parameter '{name}' needs a resource", f"Parameters.parameter[{i}].resource")
    return res


def parse(body: object) -> PackageInput:
    """The operation's input, checked against dtr-qpackage-input-parameters."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise PackageRefused("the body must be a FHIR Parameters resource (dtr-qpackage-input-parameters)", "Parameters")
    params = body.get("parameter")
    if not isinstance(params, list) or not params:
        raise PackageRefused("Parameters.parameter is empty: send coverage and order(s), questionnaire(s) or context",
                             "Parameters.parameter")
    if len(params) > MAX_PARAMETERS:
        raise PackageRefused(f"more than {MAX_PARAMETERS} parameters", "Parameters.parameter", issue=errors.TOO_COSTLY)
    coverage, orders, canonicals, others = None, [], [], []
    context = changed = None
    for i, p in enumerate(params):
        name = p.get("name") if isinstance(p, dict) else None
        if not isinstance(name, str):
            raise PackageRefused("every parameter needs a name", f"Parameters.parameter[{i}].name")
        if name == "coverage":
            if coverage is not None:
                raise PackageRefused("one coverage per call (dtr-qpackage-input-parameters: coverage 1..1)",
                                     f"Parameters.parameter[{i}]")
            coverage = _resource(p, name, i)
            if coverage["resourceType"] != "Coverage":
                raise PackageRefused("parameter 'coverage' must be a Coverage", f"Parameters.parameter[{i}].resource")
        elif name == "order":
            order = _resource(p, name, i)
            if order["resourceType"] not in ORDER_TYPES:
                raise PackageRefused(f"an order cannot be a {order['resourceType']} (DTR order types: "
                                     f"{', '.join(sorted(ORDER_TYPES))})", f"Parameters.parameter[{i}].resource")
            orders.append(order)
        elif name == "questionnaire":
            if not isinstance(p.get("valueCanonical"), str) or not p["valueCanonical"]:
                raise PackageRefused("parameter 'questionnaire' needs a valueCanonical", f"Parameters.parameter[{i}]")
            canonicals.append(p["valueCanonical"])
        elif name == "context":
            if not isinstance(p.get("valueString"), str):
                raise PackageRefused("parameter 'context' needs a valueString", f"Parameters.parameter[{i}]")
            context = p["valueString"]
        elif name == "changedsince":
            try:
                changed = datetime.fromisoformat(str(p.get("valueInstant")).replace("Z", "+00:00"))
            except ValueError:
                raise PackageRefused("parameter 'changedsince' needs a valueInstant", f"Parameters.parameter[{i}]") from None
        elif isinstance(p.get("resource"), dict):
            others.append(p["resource"])
    if coverage is None:
        raise PackageRefused("parameter 'coverage' (a Coverage resource) is required", "Parameters.parameter")
    if not isinstance(coverage.get("id"), str) or not coverage["id"]:
        raise PackageRefused("the Coverage needs its id (the QuestionnaireResponse's qr-coverage names it)", "Coverage.id")
    if not orders and not canonicals and context is None:
        raise PackageRefused("dtr-1: at least one of 'order', 'questionnaire' and 'context' must be present",
                             "Parameters.parameter")
    ref = ((coverage.get("beneficiary") or {}).get("reference") or "") if isinstance(coverage.get("beneficiary"), dict) else ""
    if not ref.startswith("Patient/") or not ref[len("Patient/"):]:
        raise PackageRefused("Coverage.beneficiary must reference the Patient (Patient/id)", "Coverage.beneficiary")
    return PackageInput(coverage, ref[len("Patient/"):], tuple(orders), tuple(canonicals), context, changed, tuple(others))


def forms_for(determinations: list[Determination], *, strict: bool = True) -> tuple[list[str], list[str]]:
    """(form ids, sentences about orders left out). An unknown plan is refused with the reason
    (422); so are orders painpa has no rules for, all of them, when no form is asked by name."""
    wanted: dict[str, None] = {}
    skipped: list[str] = []
    for det in determinations:
        if det.program.kind is ProgramKind.UNKNOWN_PLAN:
            raise PackageRefused(f"Coverage not recognised: {det.reason}", "Parameters.parameter.where(name='coverage')",
                                 issue=errors.PROCESSING)
        if not det.in_scope:
            skipped.append(f"{det.order_ref}: {det.reason}")
            continue
        wanted.update(dict.fromkeys(documentation_forms(det)))
    if strict and skipped and len(skipped) == len(determinations):
        raise PackageRefused("No documentation rules for these orders: " + "; ".join(skipped),
                             "Parameters.parameter.where(name='order')", issue=errors.PROCESSING)
    return list(wanted), skipped


def intended_use(determinations: list[Determination]) -> str:
    """DTR ``intendedUse`` (CRD doc-purpose codes): with the prior authorization request when one is
    needed, else kept on file; the reading coverage-information ``doc-purpose`` has."""
    return "withpa" if any(d.pa_needed == "auth-needed" for d in determinations) else "retain-doc"


def _origin_free_response(q: dict, pin: PackageInput, intended: str) -> dict:
    """The starting QuestionnaireResponse (DTR 2.2.0 spec-122: ``questionnaire`` = the package's
    canonical); no answers: pre-population is the client's, from the EHR."""
    ext = [{"url": DTR_EXT + "qr-coverage", "valueReference": {"reference": f"Coverage/{pin.coverage.get('id')}"}}]
    ext += [{"url": DTR_EXT + "qr-context", "valueReference": {"reference": f"{o['resourceType']}/{o['id']}"}}
            for o in pin.orders if o.get("id")]
    ext.append({"url": DTR_EXT + "intendedUse",
                "valueCodeableConcept": {"coding": [{"system": CRD_TEMP, "code": intended}]}})
    return {"resourceType": "QuestionnaireResponse", "id": f"{q['id']}-start", "extension": ext,
            "questionnaire": f"{q['url']}|{q['version']}", "status": "in-progress",
            "subject": {"reference": f"Patient/{pin.patient_id}"}}


def bundle(q: dict, pin: PackageInput, base: str, intended: str) -> dict:
    entries = [{"fullUrl": f"{base}/Questionnaire/{q['id']}", "resource": q}]
    entries += [{"fullUrl": vs["url"], "resource": vs} for vs in forms.valuesets_for(q)]
    entries.append({"resource": _origin_free_response(q, pin, intended)})
    return {"resourceType": "Bundle", "id": f"package-{q['id']}", "type": "collection", "entry": entries}


def answer(pin: PackageInput, determinations: list[Determination], base: str) -> dict:
    """The output Parameters (dtr-qpackage-output-parameters)."""
    wanted, skipped = forms_for(determinations, strict=not pin.canonicals) if pin.orders else ([], [])
    if pin.canonicals:     # named forms are returned as asked, with no re-check against the orders
        wanted = []
        for canonical in pin.canonicals:
            try:
                wanted.append(forms.by_canonical(canonical)["id"])
            except forms.UnknownQuestionnaire:
                raise PackageRefused(f"no Questionnaire {canonical} at this payer service",
                                     "Parameters.parameter.where(name='questionnaire')", issue=errors.PROCESSING) from None
        wanted = list(dict.fromkeys(wanted))
    if not wanted and not pin.orders:
        raise PackageRefused("a context alone cannot be resolved here: send the order(s) or questionnaire "
                             "canonical(s) of the CRD answer with it", "Parameters.parameter.where(name='context')",
                             issue=errors.PROCESSING)
    intended = intended_use(determinations)
    catalogue = forms.catalogue()
    params: list[dict] = []
    for form in wanted:
        q = catalogue[form]
        if pin.changed_since and datetime.fromisoformat(q["date"]).date() < pin.changed_since.date():
            continue
        params.append({"name": "packagebundle", "resource": bundle(q, pin, base, intended)})
    notes = [f"Left out {s}" for s in skipped]
    if not params:
        notes.append("No Questionnaire needs completing for these orders" +
                     (" (none changed since the date given)" if pin.changed_since else ""))
    if notes:
        params.append({"name": "outcome", "resource": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "information", "code": "informational", "diagnostics": n} for n in notes]}})
    return {"resourceType": "Parameters", "parameter": params}
