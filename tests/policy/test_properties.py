"""Property tests (hypothesis) over random synthetic patients: the invariants of the policy engine and
standards.md §10 E (CC-43, CC-46, CC-48), checked against the generated data rather than fixed answers.

- never ``satisfied`` without an affirmed, unexpired decision covering every PA code of the order;
- Medicare Advantage (SOPT 11x / 14) is never routed to WISeR or the OPD program;
- ``not-covered`` never carries ``pa-needed``;
- order-select coverage-information never carries ``doc-needed`` clinical/admin (CC-48);
- every extension passes the CRD 2.0.1 and 2.2 invariants (CC-46); the update is the draft order plus
  the extension only (CC-43).
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.policy.engine import evaluate
from cds_service.policy.model import PAState, ProgramKind
from cds_service.render.coverage import coverage_extension, strip_coverage_information, system_action
from cds_service.render.invariants import violations
from tests.support import fhir_builders as b

CODES = ["62320", "62321", "62322", "62323", "64479", "64480", "64483", "64484", "63650", "63655", "63685",
         "63688", "64555", "22510", "22511", "22512", "22513", "22514", "22515", "99213", "97110"]
ACTIONS = ["A1", "A3", "A4", None]


@st.composite
def patients(draw):
    dos = date(2025, 6, 1) + timedelta(days=draw(st.integers(0, 7 * 365)))
    sopt = draw(st.sampled_from(["1", "12", "121", "11", "111", "112", "14", "19", "5", "6", None]))
    payer = draw(st.sampled_from([None, "EXAMPLE-MA-EVICORE", "EXAMPLE-COMMERCIAL-BCBS", "OTHER-1"]))
    state = draw(st.sampled_from([None, "TX", "AZ", "OH", "CA", "NY", "WA"]))
    pos = draw(st.sampled_from([None, "11", "19", "22", "24", "21", "23"]))
    codes = tuple(draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=3, unique=True)))
    b.reset_ids()
    p = b.Patient().add(b.coverage(sopt, payer), b.location(state, pos))
    ready = draw(st.sampled_from([b.esi_ready, b.scs_ready, b.pva_ready]))
    ready(p)
    keep = draw(st.lists(st.booleans(), min_size=len(p.resources), max_size=len(p.resources)))
    p.resources = [r for r, k in zip(p.resources, keep, strict=True) if k or r["resourceType"] in ("Coverage", "Location", "Patient")]
    truth = []
    if draw(st.booleans()):   # bias towards a decision that does cover the whole order
        decided = dos - timedelta(days=draw(st.integers(0, 150)))
        p.add(b.decision(codes, draw(st.sampled_from(["A1", None])), decided))
        truth.append((set(codes), True, decided, None))
    for _ in range(draw(st.integers(0, 3))):
        dcodes = tuple(draw(st.lists(st.sampled_from(codes + ("64484", "22515")), min_size=1, max_size=3, unique=True)))
        action = draw(st.sampled_from(ACTIONS))
        decided = dos + timedelta(days=draw(st.integers(-400, 10)))
        end = decided + timedelta(days=draw(st.integers(1, 300))) if draw(st.booleans()) else None
        p.add(b.decision(dcodes, action, decided, end=end))
        truth.append((set(dcodes), action in ("A1", None), decided, end))
    p.incomplete = set(draw(st.lists(st.sampled_from(["Observation", "Procedure", "Condition", "DocumentReference",
                                                      "ClaimResponse", "Claim", "ServiceRequest"]), max_size=2)))
    # order dates are relative to the builders' DOS; move the order to this example's date
    order = b.order(*codes, dos=dos)
    return order, p, truth, sopt


def _pa_codes(det, order_codes, policies) -> set[str]:
    """The order's codes that the determination's program puts under PA, read from the policy data."""
    when = det.service_date
    if det.program.kind in (ProgramKind.WISER, ProgramKind.OPD_PA):
        # As the engine routes: a date of service before the first programs version uses today's.
        programs = policies.programs(when) or policies.programs(b.TODAY)
        spec = next(p for p in programs.data["programs"] if p["id"] == det.program.id)["families"][det.family]
    else:
        spec = policies.doc(det.program.id, when).data["families"][det.family]
    vs = policies.vs(spec["pa_codes"])
    return {c for c in order_codes if vs.contains(None, c)}


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _det(policies, example):
    order, patient, _, _ = example
    return evaluate([order], patient.record(), policies, b.TODAY)[0]


@PROPERTY
@given(patients())
def test_never_satisfied_without_an_affirmed_unexpired_decision_covering_every_pa_code(policies, example):
    det = _det(policies, example)
    if det.pa_needed != "satisfied":
        return
    assert det.prior_auth.state is PAState.SATISFIED and det.prior_auth.utn
    required = _pa_codes(det, det.codes, policies)
    validity = {"wiser": 120, "opd-pa": 120}.get(det.program.id) or \
        policies.doc(det.program.id, det.service_date).data["validity_days"]
    assert any(ok and required <= codes and (end or decided + timedelta(days=validity - 1)) >= det.service_date
               for codes, ok, decided, end in example[2]), (det.prior_auth, example[2])


@PROPERTY
@given(patients())
def test_medicare_advantage_is_never_routed_to_wiser(policies, example):
    sopt = example[3]
    det = _det(policies, example)
    if sopt and (sopt.startswith("11") or sopt.startswith("14")):
        assert det.program.kind not in (ProgramKind.WISER, ProgramKind.OPD_PA)


@PROPERTY
@given(patients())
def test_not_covered_never_carries_pa_needed(policies, example):
    det = _det(policies, example)
    if det.covered == "not-covered":
        assert det.pa_needed is None
        for version in ("2.0.1", "2.2"):
            ext = coverage_extension(det, hook="order-sign", crd_version=version, today=b.TODAY)
            assert not [s for s in ext["extension"] if s["url"] == "pa-needed"]


@PROPERTY
@given(patients())
def test_order_select_never_carries_doc_needed_clinical_or_admin(policies, example):          # CC-48
    det = _det(policies, example)
    for version in ("2.0.1", "2.2"):
        ext = coverage_extension(det, hook="order-select", crd_version=version, today=b.TODAY)
        assert not {s["valueCode"] for s in ext["extension"] if s["url"] == "doc-needed"} & {"clinical", "admin"}


@PROPERTY
@given(patients(), st.sampled_from(["order-sign", "order-select"]))
def test_coverage_information_passes_both_rule_sets(policies, example, hook):                  # CC-44..46, CC-49
    det = _det(policies, example)
    for version in ("2.0.1", "2.2"):
        assert violations(coverage_extension(det, hook=hook, crd_version=version, today=b.TODAY), version) == []


@PROPERTY
@given(patients())
def test_update_is_the_draft_order_plus_the_extension(policies, example):                      # CC-43
    order = example[0]
    det = _det(policies, example)
    action = system_action(det, order, hook="order-sign", crd_version="2.2", today=b.TODAY)
    assert action["type"] == "update" and action["resource"]["id"] == order["id"]
    assert strip_coverage_information(action["resource"]) == strip_coverage_information(order)


@PROPERTY
@given(patients())
def test_pa_is_never_said_to_be_needed_while_pa_records_are_unread(policies, example):
    """Unread ClaimResponse / Claim / earlier orders: no decision on file is not known, so never
    auth-needed (a guess); unknown with a reason, or satisfied by what was read."""
    det = _det(policies, example)
    unread = {"ClaimResponse", "Claim", "ServiceRequest"} & example[1].incomplete
    if unread and det.prior_auth.state is not PAState.NOT_NEEDED and det.pa_needed is not None:
        assert det.pa_needed in ("conditional", "satisfied"), det.prior_auth
        if det.pa_needed == "conditional" and det.prior_auth.state is PAState.UNKNOWN and det.prior_auth.unread:
            assert "OTH" in det.info_needed and any(t in det.reason for t in unread)
