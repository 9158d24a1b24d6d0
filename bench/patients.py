"""Synthetic ESI patients of a chosen size, shaped like the sandbox's charts (sandbox/seed/chart.py:
FHIR R4 / US Core shapes, realistic codes from domain.md §6) so that the policy does real work.

A patient of N resources is a radicular-pain story (condition, PT course, NSAID and gabapentin,
NRS/ODI scores, lumbar MRI with report, clinic note, an affirmed WISeR prior authorization) padded
to N with the long tail a real chart carries: years of pain scores, PT visits, refills,
comorbidities, notes, imaging and older prior-authorization Claim/ClaimResponse pairs.
"""

from __future__ import annotations

import copy
import uuid
from datetime import date

from sandbox.codes import CPT
from sandbox.seed.chart import Chart
from sandbox.seed.practice import location

PATIENT_ID = "bench-pt"  # default; a run with several sizes uses bench-pt-{size}
ROLE = {"resourceType": "PractitionerRole", "id": "bench-role", "active": True,
        "practitioner": {"reference": "Practitioner/bench-dr"}, "location": [{"reference": "Location/bench-asc"}],
        "organization": {"reference": "Organization/bench-clinic"}}
PRACTITIONER = {"resourceType": "Practitioner", "id": "bench-dr", "name": [{"family": "Okafor", "given": ["Chidi"]}]}
SITE = location("bench-asc", "Austin Surgery Center", "24", "TX", "Austin")
PAYER = {"resourceType": "Organization", "id": "payer-medicare", "name": "Medicare Part A/B (MAC)"}
CLINIC = {"resourceType": "Organization", "id": "bench-clinic", "name": "Austin Spine and Pain"}
# The visit the order is placed in (an EHR's order-sign names it): its location and service provider.
ENCOUNTER = {"resourceType": "Encounter", "id": "bench-enc", "status": "in-progress",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
             "location": [{"location": {"reference": "Location/bench-asc"}}],
             "serviceProvider": {"reference": "Organization/bench-clinic"}}

_COMORBID = ("M54.50", "G89.4", "M48.062", "M51.16", "M54.17")
_MEDS = ("5640", "25480", "140587", "21949")
_SCALES = (("72514-3", 7), ("97909-6", 44), ("82237-9", 30))


def _story(c: Chart) -> dict:
    cov = c.coverage("121", "Medicare FFS", "payer-medicare", "1EG4TE5MK73")
    c.condition("M54.16", -150)
    c.physical_therapy(-120, 6)
    c.medication("5640", -110, -20)
    c.medication("25480", -60)
    c.score("72514-3", 7, -6)
    c.score("97909-6", 46, -6)
    c.imaging("MR", "lumbar spine", -35, "L4-L5 left foraminal protrusion contacting the exiting L4 root.")
    c.note("Pain clinic visit", "Left L4 radicular pain for 5 months despite 6 weeks of PT and NSAIDs. "
                                "Plan: left L4-L5 transforaminal ESI under fluoroscopy.", -6)
    c.prior_auth(["64483"], "A1", -3, coverage=cov, utn="JA0000000BENCH1")
    return cov


def _filler(c: Chart, i: int, cov: dict) -> None:
    """One of eight kinds of history, cycling, dated further back as ``i`` grows."""
    back = -200 - (i // 8) * 3
    kind = i % 8
    if kind == 0:
        code, base = _SCALES[(i // 8) % len(_SCALES)]
        c.score(code, base - (i % 3), back)
    elif kind == 1:
        c.procedure(CPT, ("97110", "97140", "97530", "97112")[(i // 8) % 4], back)
    elif kind == 2:
        c.medication(_MEDS[(i // 8) % len(_MEDS)], back, back + 30)
    elif kind == 3:
        c.condition(_COMORBID[(i // 8) % len(_COMORBID)], back)
    elif kind == 4:
        c.note("Follow-up visit", f"Back pain follow-up {i}: home exercise continued, pain 6/10, function stable.", back)
    elif kind == 5:
        c.imaging(("XR", "MR", "CT")[(i // 8) % 3], "lumbar spine", back, "Multilevel degenerative change.")
    elif kind == 6:
        c.procedure(CPT, "98941", back)
    else:
        c.prior_auth(["64483"], ("A1", "A3")[(i // 8) % 2], back, coverage=cov, utn=f"JA{i:013d}")


def make_patient(size: int, today: date, pid: str = PATIENT_ID) -> list[dict]:
    """The patient's own resources (Patient first), exactly ``size`` of them (minimum 20)."""
    c = Chart(pid, today)
    c.patient("Rivera", "Ana", "female", 74, "TX", "Austin")
    cov = _story(c)
    i = 0
    while len(c.resources) < size:
        _filler(c, i, cov)
        i += 1
    return c.resources[:max(size, 20)]


def practice(pid: str = PATIENT_ID) -> list[dict]:
    """What the order points to (requester, site, clinic, payer, the visit), served by the FHIR server."""
    encounter = {**copy.deepcopy(ENCOUNTER), "id": f"{pid}-enc", "subject": {"reference": f"Patient/{pid}"}}
    return [copy.deepcopy(r) for r in (ROLE, PRACTITIONER, SITE, PAYER, CLINIC)] + [encounter]


def draft_order(today: date, pid: str = PATIENT_ID) -> dict:
    return {"resourceType": "ServiceRequest", "id": "bench-sr", "status": "draft", "intent": "order",
            "code": {"coding": [{"system": CPT, "code": "64483",
                                 "display": "Transforaminal epidural injection, lumbar or sacral, single level"}]},
            "subject": {"reference": f"Patient/{pid}"}, "encounter": {"reference": f"Encounter/{pid}-enc"},
            "authoredOn": today.isoformat(),
            "requester": {"reference": "PractitionerRole/bench-role"},
            "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.16"}]}],
            "insurance": [{"reference": f"Coverage/{pid}-1"}],  # Chart ids: Patient, then {pid}-1
            "locationReference": [{"reference": "Location/bench-asc"}],
            "occurrenceDateTime": today.isoformat()}


def prefetch(resources: list[dict]) -> dict:
    """Every discovery prefetch key answered from ``resources`` (as a capable EHR would), and no
    other key (CDS Hooks 2.0: data other services asked for MUST NOT be sent)."""
    from cds_service.fhir.queries import QUERIES, prefetch_templates

    asked = prefetch_templates()

    by_type: dict[str, list[dict]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    out: dict = {}
    for q in QUERIES:
        if q.key == "patient":
            out[q.key] = by_type["Patient"][0]
        elif q.key == "user":
            out[q.key] = copy.deepcopy(ROLE)
        else:
            hits = by_type.get(q.resource_type, [])
            out[q.key] = {"resourceType": "Bundle", "type": "searchset", "total": len(hits),
                          "entry": [{"resource": r} for r in hits]}
    # The order's context keys (CRD 2.2.1 standard prefetch): the visit, the requester's role, the
    # locations and organizations they and the order name, the coverage's payor.
    pid = by_type["Patient"][0]["id"]
    context = practice(pid)
    for key, rtype in CONTEXT_KEYS.items():
        if key not in asked:
            continue
        hits = [r for r in context if r["resourceType"] == rtype]
        out[key] = hits[0] if key == "encounter" else {"resourceType": "Bundle", "type": "searchset",
                                                       "total": len(hits), "entry": [{"resource": r} for r in hits]}
    return out


CONTEXT_KEYS = {"encounter": "Encounter", "practitionerRoles": "PractitionerRole", "locations": "Location",
                "organizations": "Organization"}


def hook_body(hook: str, today: date, *, pid: str = PATIENT_ID, prefetch_values: dict | None = None,
              fhir_server: str | None = None, hook_instance: str | None = None, token: str | None = None) -> dict:
    order = draft_order(today, pid)
    context: dict = {"userId": "PractitionerRole/bench-role", "patientId": pid, "encounterId": f"{pid}-enc",
                     "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}}
    if hook == "order-select":
        context["selections"] = ["ServiceRequest/bench-sr"]
    body: dict = {"hook": hook, "hookInstance": hook_instance or str(uuid.uuid4()), "context": context}
    if prefetch_values is not None:
        body["prefetch"] = prefetch_values
    if fhir_server:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": token or "bench-token-" + uuid.uuid4().hex, "token_type": "Bearer",
                                     "expires_in": 30, "scope": "patient/*.rs", "subject": "painpa"}
    return body
