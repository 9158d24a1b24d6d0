"""``explain`` text for ``painpa evaluate --explain``: a person reads each requirement, its status,
evidence and source."""

from __future__ import annotations

from cds_service.policy.engine import evaluate
from cds_service.policy.explain import explain
from tests.support import fhir_builders as b


def test_explain_names_requirements_evidence_fix_and_source(policies):
    p = b.Patient().add(b.coverage("121", name="Medicare"), b.location("TX", "11"), b.condition("M54.16", b.days(200)),
                        b.procedure("97110", b.days(20)), b.procedure("97110", b.days(6)))
    text = explain(evaluate([b.order("64483"), {"resourceType": "NutritionOrder", "id": "d1"}], p.record(), policies, b.TODAY))
    assert "Program: CMS WISeR prior authorization (TX)" in text
    assert "[UNMET]   esi.conservative-care" in text
    assert "found: Conservative therapy: 2 of 4 required weeks documented" in text
    assert "evidence: Procedure/" in text and "http://www.ama-assn.org/go/cpt|97110" in text
    assert "fix: Record the conservative care tried" in text
    assert "source: CMS WISeR Provider and Supplier Operational Guide v6.0 §6.2.10" in text
    assert "UNCONFIRMED" in text                         # the ESI contraindication mapping is flagged
    assert "Companion codes at risk: 01937, 99152" in text
    assert "NutritionOrder/d1" in text and "painpa makes no determination" in text


def test_explain_without_orders():
    assert explain([]) == "No draft orders to evaluate.\n"
