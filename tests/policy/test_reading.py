"""Reading the record in FHIR terms: coverage kind from SOPT, payer identifiers, state and setting from
Location → PractitionerRole → tenant default, billing codes and modifiers, note text."""

from __future__ import annotations

import base64

import pytest

from cds_service.policy.chart import Chart, note_text
from cds_service.policy.engine import evaluate
from cds_service.policy.model import ProgramKind
from cds_service.policy.orders import read_order
from cds_service.policy.record import TenantDefaults
from tests.support import fhir_builders as b


@pytest.mark.parametrize(("sopt", "kind"), [
    ("1", "medicare-ffs"), ("12", "medicare-ffs"), ("121", "medicare-ffs"), ("11", "medicare-advantage"),
    ("111", "medicare-advantage"), ("119", "medicare-advantage"), ("14", "medicare-advantage"), ("19", "unknown"),
    ("5", "commercial"), ("6", "commercial"), ("2", "commercial"), (None, "unknown")])
def test_coverage_kind_from_source_of_payment_typology(policies, sopt, kind):
    record = b.Patient().add(b.coverage(sopt), b.location("TX", "11")).record()
    facts = read_order(b.order("64483"), record, policies.programs(b.DOS).data, b.TODAY)
    assert facts.coverage_kind == kind


def _role(rid: str, loc: str) -> dict:
    return {"resourceType": "PractitionerRole", "id": rid, "location": [{"reference": f"Location/{loc}"}]}


def test_state_and_setting_fall_back_from_order_to_roles_to_tenant(policies):
    programs = policies.programs(b.DOS).data
    p = b.Patient().add(b.coverage("121"), b.location("AZ", "24", lid="asc"), b.location("OH", "22", lid="hopd"),
                        _role("perf", "asc"), _role("req", "hopd"))
    order = b.order("64483", loc=None)
    assert read_order(order, p.record(), programs, b.TODAY).state is None
    order["requester"] = {"reference": "PractitionerRole/req"}
    facts = read_order(order, p.record(), programs, b.TODAY)
    assert (facts.state, facts.setting) == ("OH", "hopd")
    order["performer"] = [{"reference": "PractitionerRole/perf"}]
    facts = read_order(order, p.record(), programs, b.TODAY)
    assert (facts.state, facts.setting) == ("AZ", "asc")                  # performer before requester
    order["locationReference"] = [{"reference": "#here"}]
    order["contained"] = [b.location("WA", "11", lid="here")]
    facts = read_order(order, p.record(), programs, b.TODAY)
    assert (facts.state, facts.setting) == ("WA", "office")              # the order's own location first
    bare = b.order("64483", loc=None)
    p.defaults = TenantDefaults(state="nj", place_of_service="19")
    facts = read_order(bare, p.record(), programs, b.TODAY)
    assert (facts.state, facts.setting) == ("NJ", "hopd")


def test_billing_codes_modifiers_and_assumed_date(policies):
    order = b.order("64483", modifiers=("ET",), dos=None)
    order["orderDetail"] = [{"coding": [{"system": b.CPT, "code": "64484"}]}]
    order["code"]["coding"].append({"system": "http://snomed.info/sct", "code": "231289001"})
    facts = read_order(order, b.Patient().add(b.coverage("121")).record(), policies.programs(b.DOS).data, b.TODAY)
    assert facts.codes == ("64483", "64484")
    assert facts.modifiers == ("ET",)
    assert (facts.service_date, facts.date_assumed) == (b.TODAY, True)


def test_emergency_modifier_takes_the_order_out_of_wiser(policies):
    p = b.esi_ready(b.Patient().add(b.coverage("121"), b.location("TX", "11")))
    normal, emergency = evaluate([b.order("64483"), b.order("64483", sid="sr-2", modifiers=("ET",))], p.record(), policies, b.TODAY)
    assert normal.program.kind is ProgramKind.WISER
    assert emergency.program.kind is ProgramKind.LCD and emergency.pa_needed == "no-auth"


@pytest.mark.parametrize(("dos", "kind"), [("2026-01-14", ProgramKind.LCD), ("2026-01-15", ProgramKind.WISER),
                                            ("2031-12-31", ProgramKind.WISER), ("2032-01-01", ProgramKind.LCD)])
def test_wiser_window_edges(policies, dos, kind):
    from datetime import date
    p = b.esi_ready(b.Patient().add(b.coverage("121"), b.location("TX", "11")))
    det = evaluate([b.order("64483", dos=date.fromisoformat(dos))], p.record(), policies, b.TODAY)[0]
    assert det.program.kind is kind


def test_unknown_state_is_info_needed_location_not_a_guess(policies):
    p = b.esi_ready(b.Patient().add(b.coverage("121"), b.location(None, "11")))
    det = evaluate([b.order("64483")], p.record(), policies, b.TODAY)[0]
    assert det.pa_needed == "conditional" and "location" in det.info_needed
    assert "service state" in det.reason


def test_inpatient_and_emergency_settings_are_not_wiser(policies):
    for pos in ("21", "23"):
        p = b.esi_ready(b.Patient().add(b.coverage("121"), b.location("TX", pos)))
        assert evaluate([b.order("64483")], p.record(), policies, b.TODAY)[0].program.kind is ProgramKind.LCD


def test_unusable_records_are_not_evidence():
    p = b.Patient().add(b.procedure("97110", b.days(3), status="entered-in-error"), b.procedure("97110", b.days(4)),
                        b.condition("M54.16", b.days(100), status="resolved"))
    chart = Chart(p.record(), b.TODAY)
    assert len(chart.items["procedures"]) == 1
    assert chart.items["conditions"][0].active is False


def test_note_text_reads_inline_data_only():
    doc = b.note("Fluoroscopic guidance, contrast confirmed epidural spread.", b.days(1), "enc-1")
    assert "epidural spread" in note_text(doc)
    doc["content"] = [{"attachment": {"contentType": "text/plain", "url": "Binary/123"}}]
    assert note_text(doc) == ""
    html = base64.b64encode(b"<p>Left <b>L5</b> injection</p>").decode()
    doc["content"] = [{"attachment": {"contentType": "text/html", "data": html}}]
    assert " ".join(note_text(doc).split()) == "Left L5 injection"


def test_opd_program_lists_63650_and_keeps_63685_63688_as_temporarily_removed(policies):
    p = b.scs_ready(b.Patient().add(b.coverage("121"), b.location("CA", "22")))
    perc, generator = evaluate([b.order("63650"), b.order("63685", "63688", sid="sr-2")], p.record(), policies, b.TODAY)
    assert perc.program.kind is ProgramKind.OPD_PA and perc.pa_needed == "auth-needed"
    assert generator.program.kind is ProgramKind.LCD and generator.pa_needed == "no-auth"
    assert any("63685, 63688" in n and "temporarily removed" in n for n in generator.notes)
    asc = b.scs_ready(b.Patient().add(b.coverage("121"), b.location("CA", "24")))
    assert evaluate([b.order("63650")], asc.record(), policies, b.TODAY)[0].program.kind is ProgramKind.LCD


def test_wiser_paddle_lead_puts_the_generator_at_risk_as_a_companion_code(policies):
    p = b.scs_ready(b.Patient().add(b.coverage("121"), b.location("OH", "22")))
    det = evaluate([b.order("63655", "63685")], p.record(), policies, b.TODAY)[0]
    assert det.program.kind is ProgramKind.WISER
    assert det.prior_auth.missing_codes == ("63655",)              # 63685 needs no PA of its own (Table C5)
    assert "63685" in det.companion_codes_at_risk and "63688" not in det.companion_codes_at_risk


def test_medicare_advantage_in_a_wiser_state_uses_its_plan_pack_or_unknown_plan(policies):
    p = b.esi_ready(b.Patient().add(b.coverage("111", "EXAMPLE-MA-EVICORE"), b.location("TX", "11")))
    assert evaluate([b.order("64483")], p.record(), policies, b.TODAY)[0].program.id == "pack:example-ma-evicore"
    q = b.esi_ready(b.Patient().add(b.coverage("111", "SOME-MA-PLAN", name="Sunrise MA"), b.location("TX", "11")))
    det = evaluate([b.order("64483")], q.record(), policies, b.TODAY)[0]
    assert det.program.kind is ProgramKind.UNKNOWN_PLAN and det.covered == det.pa_needed == "conditional"
    assert det.info_needed == ("OTH",) and "Sunrise MA" in det.reason
