"""Policy truth at the edges (CMS WISeR guide v6.0 §1.5, §6.2.5, §6.2.10, Table A10 note a; OPD PA
program pages of the MACs; LCD L36204 / A57792), one behaviour per test, built with the scenario
builders (tests/support/fhir_builders.py)."""

from __future__ import annotations

from cds_service.policy.engine import evaluate
from cds_service.policy.model import PAState, ProgramKind, Status
from cds_service.policy.orders import read_order
from tests.support import fhir_builders as b


def _det(policies, patient, order, *, sopt="121", payer=None, state="TX", pos="11"):
    patient.add(b.coverage(sopt, payer), b.location(state, pos))
    return evaluate([order], patient.record(), policies, b.TODAY)[0]


def _req(det, rid):
    return next(r for r in det.requirements if r.id == rid)


# ---- WISeR sites of care (guide §1.5) -------------------------------------------------------------
def test_wiser_applies_only_at_the_places_of_service_the_guide_lists(policies):
    for pos in ("11", "12", "19", "22", "24"):
        det = _det(policies, b.esi_ready(b.Patient()), b.order("64483"), pos=pos)
        assert det.program.kind is ProgramKind.WISER and det.pa_needed == "auth-needed", pos
    snf = _det(policies, b.esi_ready(b.Patient()), b.order("64483"), pos="31")
    assert snf.program.kind is ProgramKind.LCD
    assert snf.pa_needed == "no-auth" and snf.prior_auth.state is PAState.NOT_NEEDED


def test_unknown_place_of_service_asks_for_the_location_instead_of_assuming_wiser(policies):
    det = _det(policies, b.esi_ready(b.Patient()), b.order("64483"), pos=None)
    assert det.pa_needed == "conditional" and "location" in det.info_needed
    assert "place of service" in det.reason


def test_place_of_service_is_read_from_service_request_location_code_first(policies):
    """CRD 2.2.1 sends the CMS place of service in ServiceRequest.locationCode; it wins over the
    Location's type (the Location still gives the state)."""
    p = b.esi_ready(b.Patient()).add(b.coverage("121"), b.location("TX", "11"))
    order = b.order("64483")
    order["locationCode"] = [{"coding": [{"system": b.POS, "code": "31", "display": "Skilled Nursing Facility"}]}]
    facts = read_order(order, p.record(), policies.programs(b.DOS).data, b.TODAY)
    assert (facts.state, facts.setting) == ("TX", "other")
    det = evaluate([order], p.record(), policies, b.TODAY)[0]
    assert det.program.kind is ProgramKind.LCD and det.pa_needed == "no-auth"
    order["locationCode"] = [{"coding": [{"system": b.POS, "code": "24"}]}]
    bare = b.esi_ready(b.Patient()).add(b.coverage("121"), b.location("TX", None))
    assert read_order(order, bare.record(), policies.programs(b.DOS).data, b.TODAY).setting == "asc"
    assert evaluate([order], bare.record(), policies, b.TODAY)[0].pa_needed == "auth-needed"
