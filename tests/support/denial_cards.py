"""A lumbar ESI order on the Example Advantage Plan's Gold HMO plan (the plan the seed denials in
tests/denials/data are about), and the cards an order-sign gets for it through the readiness
assessment with the plan's denial history read from a database."""

from __future__ import annotations

from datetime import date

from cds_service.clients import ClientInfo
from cds_service.fhir.queries import QUERIES
from cds_service.policy.record import TenantDefaults
from cds_service.readiness import ChartAccess, Question, assess
from cds_service.render import render_response

TODAY = date(2026, 11, 29)
PLAN = {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "plan"}]},
        "value": "GOLD-HMO", "name": "Gold HMO"}
COVERAGE = {
    "resourceType": "Coverage", "id": "cov1", "status": "active", "beneficiary": {"reference": "Patient/p1"},
    "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": "111"}]},
    "payor": [{"reference": "Organization/payer-example-ma", "display": "Example Advantage Plan",
               "identifier": {"system": "http://painpa.org/fhir/sid/example-payer", "value": "EXAMPLE-MA-EVICORE"}}],
    "class": [PLAN],
}
PATIENT = {"resourceType": "Patient", "id": "p1", "address": [{"state": "TX"}]}
RADICULOPATHY = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                 "clinicalStatus": {"coding": [{"code": "active"}]}, "onsetDateTime": "2026-06-01",
                 "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.16"}]}}
CLIENT = ClientInfo(iss="https://ehr.example", tenant=None, jwks_url=None, jwks=None, fhir_bases=(),
                    smart_client_id=None, defaults=TenantDefaults(state="TX", place_of_service="11"))


def order(code="64483"):
    return {"resourceType": "ServiceRequest", "id": "sr1", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"}, "occurrenceDateTime": "2026-12-10",
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]},
            "insurance": [{"reference": "Coverage/cov1"}]}


def _bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def cards_for(db, settings, policies, coverage, code="64483"):
    """The cards of an order-sign whose prefetch holds the whole chart, through the readiness assessment."""
    prefetch = {q.key: _bundle() for q in QUERIES} | {
        "patient": PATIENT, "coverage": _bundle(coverage), "conditions": _bundle(RADICULOPATHY)}
    assessment = assess(Question("p1", (order(code),), client=CLIENT), ChartAccess(prefetch=prefetch),
                        settings=settings, policies=policies, today=TODAY, db=db)
    dets = assessment.determinations
    response = render_response(dets, [order(code)], hook="order-sign", crd_version="2.0.1", config={},
                               today=TODAY, smart_link=lambda det, req=None: None)
    return response["cards"]
