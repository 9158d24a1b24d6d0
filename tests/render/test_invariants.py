"""The CRD invariant port itself must reject bad payloads (else the property tests could not fail)."""

from __future__ import annotations

import pytest

from cds_service.render.invariants import violations

URL = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"


def ext(**subs) -> dict:
    base = {"coverage": {"valueReference": {"reference": "Coverage/c"}}, "date": {"valueDate": "2026-11-29"},
            "coverage-assertion-id": {"valueString": "x"}}
    out = []
    for name, value in {**base, **subs}.items():
        for v in value if isinstance(value, list) else [value]:
            out.append({"url": name.replace("_", "-"), **(v if isinstance(v, dict) else {"valueCode": v})})
    return {"url": URL, "extension": out}


def test_a_valid_payload_passes_both():
    good = ext(covered="covered", pa_needed="auth-needed")
    assert violations(good, "2.0.1") == [] and violations(good, "2.2") == []


@pytest.mark.parametrize(("payload", "version", "message"), [
    (ext(covered="covered"), "2.0.1", "q2 (2.0.1)"),
    (ext(covered="not-covered", pa_needed="no-auth"), "2.2", "q2 (2.2)"),
    (ext(covered="conditional", pa_needed="no-auth"), "2.2", "q3 (2.2)"),
    (ext(covered="covered", pa_needed="no-auth", info_needed="OTH"), "2.0.1", "q3 (2.0.1)"),
    (ext(covered="covered", pa_needed="satisfied"), "2.2", "q5"),
    (ext(covered="covered", pa_needed="auth-needed", satisfied_pa_id={"valueString": "U"}), "2.0.1", "q5"),
    (ext(covered="conditional", pa_needed="auth-needed", info_needed="OTH"), "2.2", "q6"),
    (ext(covered="covered", pa_needed="no-auth", doc_needed="clinical", doc_purpose="withpa",
         reason={"valueCodeableConcept": {"text": "r"}}), "2.2", "q4 (2.2)"),
    (ext(covered="covered", pa_needed="auth-needed", doc_needed="clinical", doc_purpose="withpa"), "2.2", "q8"),
    (ext(covered="indeterminate", pa_needed="indeterminate"), "2.2", "q9"),
    (ext(covered="indeterminate", pa_needed="conditional"), "2.0.1", "not allowed in 2.0.1"),
    (ext(covered="covered", pa_needed="no-auth", expiry_date={"valueDate": "2027-01-01"}), "2.0.1", "unknown sub-extension"),
    (ext(covered="covered", pa_needed="no-auth", date=[{"valueDate": "2026-11-29"}] * 2), "2.2", "date must occur exactly once"),
    (ext(covered="covered", pa_needed="no-auth", doc_needed=["clinical", "admin"]), "2.0.1", "0..1 in 2.0.1"),
])
def test_each_invariant_rejects_its_violation(payload, version, message):
    assert any(message in v for v in violations(payload, version)), violations(payload, version)
