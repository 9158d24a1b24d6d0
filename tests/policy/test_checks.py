"""Requirement checks, one behaviour at a time (domain.md §2.2-§2.4 and §7; CMS WISeR guide v6.0
§6.2.5, §6.2.9, §6.2.10; plan packs per domain.md §5.2)."""

from __future__ import annotations

from cds_service.policy.engine import evaluate
from cds_service.policy.model import Status
from tests.support import fhir_builders as b
from tests.support.clinical_notes import NOTE


def _req(policies, patient, *codes, rid, sopt="121", payer=None, state="TX", pos="11"):
    patient.add(b.coverage(sopt, payer), b.location(state, pos))
    det = evaluate([b.order(*codes)], patient.record(), policies, b.TODAY)[0]
    return next(r for r in det.requirements if r.id == rid), det


def _without(p: b.Patient, code: str) -> b.Patient:
    p.resources = [r for r in p.resources if not any(c.get("code") == code for c in (r.get("code") or {}).get("coding") or ())]
    return p


def test_axial_pain_alone_does_not_qualify(policies):
    p = _without(b.esi_ready(b.Patient()), "M54.16").add(b.condition("M54.50", b.days(200)))
    r, _ = _req(policies, p, "64483", rid="esi.diagnosis")
    assert r.status is Status.UNMET and "axial" in r.detail


def test_order_reason_code_counts_as_the_diagnosis(policies):
    p = _without(b.esi_ready(b.Patient()), "M54.16").add(b.coverage("121"), b.location("TX", "11"))
    order = b.order("64483", reason="M51.16")
    det = evaluate([order], p.record(), policies, b.TODAY)[0]
    assert next(r for r in det.requirements if r.id == "esi.diagnosis").status is Status.MET
    duration = next(r for r in det.requirements if r.id == "esi.pain-duration")
    assert duration.status is Status.UNMET and duration.blocked_by is None


def test_pain_duration_waits_on_the_diagnosis_card(policies):
    p = _without(b.esi_ready(b.Patient()), "M54.16")
    r, _ = _req(policies, p, "64483", rid="esi.pain-duration")
    assert r.status is Status.UNMET and r.blocked_by == "esi.diagnosis"


def test_zoster_is_exempt_from_the_four_week_rules(policies):
    p = b.Patient().add(b.condition("B02.29", b.days(10)), b.score("72514-3", 8, b.days(1)), b.imaging("MR", b.days(5)))
    r1, det = _req(policies, p, "64483", rid="esi.conservative-care")
    assert r1.status is Status.MET and "zoster" in r1.detail
    assert next(r for r in det.requirements if r.id == "esi.pain-duration").status is Status.MET


def test_intolerance_attestation_replaces_the_four_weeks(policies):
    p = _without(b.esi_ready(b.Patient()), "97110")
    p.resources = [r for r in p.resources if r["resourceType"] != "MedicationRequest"]
    p.add(b.attest("conservative-care-intolerance", b.days(2)))
    r, _ = _req(policies, p, "64483", rid="esi.conservative-care")
    assert r.status is Status.MET


def test_medication_text_without_rxnorm_code_counts(policies):
    p = _without(b.esi_ready(b.Patient()), "97110")
    p.resources = [r for r in p.resources if r["resourceType"] != "MedicationRequest"]
    med = b.medication("999999", "Naproxen 500 MG Oral Tablet", b.days(50), 40)
    med["medicationCodeableConcept"] = {"text": "Naproxen 500 MG Oral Tablet"}
    p.add(med)
    r, _ = _req(policies, p, "64483", rid="esi.conservative-care")
    assert r.status is Status.MET, r.detail


def test_evicore_pack_wants_six_weeks_but_four_for_stenosis(policies):
    def patient(dx):
        p = b.Patient().add(b.condition(dx, b.days(200)), b.procedure("97110", b.days(40)), b.procedure("97110", b.days(5)))
        return p
    r, _ = _req(policies, patient("M54.16"), "64483", rid="esi.conservative-care", sopt="111", payer="EXAMPLE-MA-EVICORE")
    assert r.status is Status.UNMET and "5 of 6" in r.detail
    r, _ = _req(policies, patient("M48.062"), "64483", rid="esi.conservative-care", sopt="111", payer="EXAMPLE-MA-EVICORE")
    assert r.status is Status.MET


def test_commercial_pack_needs_analgesics_and_pt_each_four_weeks(policies):
    p = b.Patient().add(b.condition("M54.16", b.days(200)), b.procedure("97110", b.days(60)), b.procedure("97110", b.days(5)))
    r, _ = _req(policies, p, "64483", rid="esi.conservative-care", sopt="5", payer="EXAMPLE-COMMERCIAL-BCBS")
    assert r.status is Status.UNMET and "medications" in r.detail


def test_commercial_pack_minimum_interval(policies):
    p = b.esi_ready(b.Patient()).add(b.procedure("64483", b.days(20)))
    r, _ = _req(policies, p, "64483", rid="esi.frequency", sopt="5", payer="EXAMPLE-COMMERCIAL-BCBS")
    assert r.status is Status.UNMET and "minimum 30" in r.detail


def test_frequency_counts_sessions_per_region_not_codes(policies):
    p = b.esi_ready(b.Patient())
    for n in (300, 200, 100):
        p.add(b.procedure("64483", b.days(n)), b.procedure("64484", b.days(n)))      # add-on same day = one session
    p.add(b.procedure("64479", b.days(50)))                                          # cervical: other region
    r, det = _req(policies, p, "64483", rid="esi.frequency")
    assert r.status is Status.MET and det.covered != "not-covered"
    p.add(b.procedure("62323", b.days(30)))                                          # 4th lumbar session
    det = evaluate([b.order("64483")], p.record(), policies, b.TODAY)[0]
    assert det.covered == "not-covered" and det.pa_needed is None


def test_no_imaging_variant_is_not_covered(policies):
    r, det = _req(policies, b.esi_ready(b.Patient()), "62322", rid="esi.noncovered-variant")
    assert r.status is Status.UNMET and det.covered == "not-covered"


def test_repeat_needs_sustained_relief_on_the_same_scale(policies):
    def patient(after_value, after_days):
        p = b.esi_ready(b.Patient()).add(b.procedure("64483", b.days(150)), b.score("72514-3", 8, b.days(155)),
                                         b.score("72514-3", after_value, b.days(150 - after_days)))
        return p
    assert _req(policies, patient(3, 100), "64483", rid="esi.repeat-relief")[0].status is Status.MET
    short = _req(policies, patient(3, 30), "64483", rid="esi.repeat-relief")[0]
    assert short.status is Status.UNMET and "not shown" in short.detail
    weak = _req(policies, patient(6, 100), "64483", rid="esi.repeat-relief")[0]
    assert weak.status is Status.UNMET and "Only" in weak.detail
    other_scale = b.esi_ready(b.Patient()).add(b.procedure("64483", b.days(150)), b.score("97909-6", 40, b.days(155)))
    p = _without(other_scale, "72514-3")
    r = _req(policies, p, "64483", rid="esi.repeat-relief")[0]
    assert r.status is Status.UNMET and "same scale" in r.detail


def test_one_region_per_session(policies):
    r, _ = _req(policies, b.esi_ready(b.Patient()), "64483", "64479", rid="esi.single-region")
    assert r.status is Status.UNMET


def test_active_infection_is_a_contraindication(policies):
    p = b.esi_ready(b.Patient()).add(b.condition("M46.26", b.days(3)))
    r, det = _req(policies, p, "64483", rid="esi.contraindications")
    assert r.status is Status.UNMET and det.covered == "conditional"


def test_scs_trial_replacement_and_relief(policies):
    weak = b.scs_ready(b.Patient()).add(b.score("72514-3", 7, b.days(24)))
    weak.resources = [r for r in weak.resources if not (r["resourceType"] == "Observation" and r.get("valueQuantity", {}).get("value") == 3)]
    r, _ = _req(policies, weak, "63655", rid="scs.trial")
    assert r.status is Status.UNMET and "12%" in r.detail
    replacement = b.Patient().add(b.procedure("63685", b.days(2000)))
    r, _ = _req(policies, replacement, "63685", rid="scs.trial")
    assert r.status is Status.MET and "Generator replacement" in r.detail


def test_percutaneous_lead_reason_only_for_wiser_paddle_leads(policies):
    _, wiser = _req(policies, b.scs_ready(b.Patient()), "63655", rid="scs.trial")
    _, lcd = _req(policies, b.scs_ready(b.Patient()), "63655", rid="scs.trial", state="CA")
    assert "scs.percutaneous-not-candidate" in {r.id for r in wiser.requirements}
    assert "scs.percutaneous-not-candidate" not in {r.id for r in lcd.requirements}


def test_substance_use_disorder_blocks_scs(policies):
    r, _ = _req(policies, b.scs_ready(b.Patient()).add(b.condition("F11.20", b.days(100))), "63655", rid="scs.substance-use")
    assert r.status is Status.UNMET and "F1120" in r.detail.replace(".", "")


def test_pva_pain_threshold_is_higher_for_inpatients(policies):
    p = _without(b.pva_ready(b.Patient()), "72514-3").add(b.score("72514-3", 6, b.days(2)))
    assert _req(policies, p, "22513", rid="pva.pain-severity", pos="22")[0].status is Status.MET
    p = _without(b.pva_ready(b.Patient()), "72514-3").add(b.score("72514-3", 6, b.days(2)))
    r, _ = _req(policies, p, "22513", rid="pva.pain-severity", pos="21")
    assert r.status is Status.UNMET and "8/10" in r.detail


def test_pva_old_fracture_and_neoplasm_pairing(policies):
    p = _without(b.pva_ready(b.Patient()), "M80.08XA").add(b.condition("M80.08XA", b.days(200)))
    assert _req(policies, p, "22513", rid="pva.acuity")[0].status is Status.UNMET
    alone = _without(b.pva_ready(b.Patient()), "M80.08XA").add(b.condition("C79.51", b.days(30)))
    r = _req(policies, alone, "22513", rid="pva.diagnosis")[0]
    assert r.status is Status.UNMET and "paired" in r.detail
    paired = alone.add(b.condition("M84.58XA", b.days(30)))
    assert _req(policies, paired, "22513", rid="pva.diagnosis")[0].status is Status.MET


def test_osteoporosis_plan_not_required_for_neoplastic_fracture(policies):
    p = _without(_without(b.pva_ready(b.Patient()), "77080"), "M80.08XA")
    p.add(b.condition("C90.00", b.days(30)), b.condition("M84.58XA", b.days(30)))
    r = _req(policies, p, "22513", rid="pva.osteoporosis-plan")[0]
    assert r.status is Status.MET and "Not required" in r.detail


def test_unknown_only_when_the_query_failed(policies):
    p = _without(b.esi_ready(b.Patient()), "72514-3")
    assert _req(policies, p, "64483", rid="esi.baseline-scale")[0].status is Status.UNMET
    p = _without(b.esi_ready(b.Patient()), "72514-3")
    p.incomplete.add("Observation")
    assert _req(policies, p, "64483", rid="esi.baseline-scale")[0].status is Status.UNKNOWN
    p = b.esi_ready(b.Patient())
    p.incomplete.add("Observation")                       # evidence that was read still counts
    assert _req(policies, p, "64483", rid="esi.baseline-scale")[0].status is Status.MET


def _running_course(start_days: int) -> b.Patient:
    """The ESI-ready chart whose only conservative care is a PT course still in progress (no end)."""
    p = _without(b.esi_ready(b.Patient()), "97110")
    p.resources = [r for r in p.resources if r["resourceType"] != "MedicationRequest"]
    course = b.procedure("97110", b.days(start_days), status="in-progress")
    course.pop("performedDateTime")
    course["performedPeriod"] = {"start": b.iso(b.days(start_days))}
    return p.add(course)


def test_a_course_still_in_progress_is_documented_up_to_today(policies):
    # Started 34 days before the evaluation date (45 before the planned date of service).
    r, _ = _req(policies, _running_course(45), "64483", rid="esi.conservative-care")
    assert r.status is Status.MET and "4 weeks documented" in r.detail
    assert r.evidence[0].date == b.iso(b.days(45))
    # Started 24 days before today: 5 weeks by the date of service, but only 3 on file today.
    r, _ = _req(policies, _running_course(35), "64483", rid="esi.conservative-care")
    assert r.status is Status.UNMET and "3 of 4 required weeks" in r.detail


def test_a_course_that_has_not_started_yet_documents_nothing(policies):
    r, _ = _req(policies, _running_course(5), "64483", rid="esi.conservative-care")    # starts after today
    assert r.status is Status.UNMET and "0 of 4 required weeks" in r.detail


def test_a_running_course_is_the_active_program_as_of_today(policies):
    r, _ = _req(policies, _running_course(45), "64483", rid="esi.active-program")
    assert r.status is Status.MET and r.detail.endswith(f" to {b.TODAY.isoformat()})")


def test_medications_still_taken_are_documented_up_to_today(policies):
    base = _without(b.esi_ready(b.Patient()), "97110")
    base.resources = [r for r in base.resources if r["resourceType"] != "MedicationRequest"]
    statement = {"resourceType": "MedicationStatement", "id": "ms-1", "status": "active",
                 "subject": {"reference": "Patient/pt-1"}, "effectivePeriod": {"start": b.iso(b.days(50))},
                 "medicationCodeableConcept": {"coding": [{"system": b.RX, "code": "5640", "display": "ibuprofen"}]}}
    r, _ = _req(policies, base.add(statement), "64483", rid="esi.conservative-care")
    assert r.status is Status.MET and "5 weeks documented" in r.detail          # 39 days to today
    prescription = b.medication("5640", "ibuprofen", b.days(50), 0)
    del prescription["dispenseRequest"]                   # an active prescription with no stated end
    base.resources = [r for r in base.resources if r["resourceType"] != "MedicationStatement"]
    r, _ = _req(policies, base.add(prescription), "64483", rid="esi.conservative-care")
    assert r.status is Status.MET and "5 weeks documented" in r.detail
    prescription["status"] = "completed"                  # finished, no end on file: one day, not a course
    r, _ = _req(policies, base, "64483", rid="esi.conservative-care")
    assert r.status is Status.UNMET and "0 of 4" in r.detail


def test_a_stimulator_trial_still_in_progress_is_judged_on_its_scores(policies):
    p = _without(b.scs_ready(b.Patient()), "63650")
    trial = b.procedure("63650", b.days(30), status="in-progress")
    trial.pop("performedDateTime")
    trial["performedPeriod"] = {"start": b.iso(b.days(30))}
    r, _ = _req(policies, p.add(trial), "63655", rid="scs.trial")
    assert r.status is Status.MET and "Trial relief 62%" in r.detail

def test_diagnosis_and_cloned_note_problems_name_the_form_that_fixes_them(policies):
    esi = _without(b.esi_ready(b.Patient()), "M54.16")
    esi.add(b.note(NOTE, b.days(60), "enc-1"), b.note(NOTE, b.days(30), "enc-2"))
    _, det = _req(policies, esi, "64483", rid="esi.diagnosis")
    forms = {r.id: (r.status, r.form) for r in det.requirements}
    assert forms["esi.diagnosis"] == (Status.UNMET, "diagnosis")
    assert forms["esi.pain-duration"] == (Status.UNMET, "diagnosis")
    assert forms["esi.cloned-notes"] == (Status.UNMET, "medical-necessity")
    pva = _without(b.pva_ready(b.Patient()), "M80.08XA").add(b.condition("M80.08XA", b.days(200)))
    acuity, _ = _req(policies, pva, "22513", rid="pva.acuity")
    assert (acuity.status, acuity.form) == (Status.UNMET, "diagnosis")
