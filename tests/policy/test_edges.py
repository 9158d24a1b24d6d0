"""Policy truth at the edges (CMS WISeR guide v6.0 §1.5, §6.2.5, §6.2.10, Table A10 note a; OPD PA
program pages of the MACs; LCD L36204 / A57792), one behaviour per test, built with the scenario
builders (tests/support/fhir_builders.py)."""

from __future__ import annotations

from datetime import timedelta

from cds_service.policy.engine import evaluate
from cds_service.policy.model import PAState, ProgramKind, Status
from cds_service.policy.orders import read_order
from cds_service.render import render_response
from tests.support import fhir_builders as b
from tests.support.fake_smart_link import fake_smart_link


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


# ---- SCS: trial waived only for a real replacement; one permanent implant (L36204 / A57792) -------
def _scs_without_trial() -> b.Patient:
    p = b.scs_ready(b.Patient())
    p.resources = [r for r in p.resources if not (r["resourceType"] == "Procedure" and r["code"]["coding"][0]["code"] == "63650")]
    return p


def test_generator_replacement_with_an_implant_on_file_needs_no_new_trial(policies):
    p = _scs_without_trial().add(b.procedure("63655", b.days(2000)))
    det = _det(policies, p, b.order("63685"), state="AZ")
    trial = _req(det, "scs.trial")
    assert trial.status is Status.MET and "Generator replacement" in trial.detail
    assert "scs.one-permanent" not in {r.id for r in det.requirements}   # no new leads ordered


def test_new_paddle_leads_with_an_earlier_implant_are_not_a_replacement(policies):
    p = _scs_without_trial().add(b.procedure("63685", b.days(2000)))
    det = _det(policies, p, b.order("63655"), state="AZ")
    trial = _req(det, "scs.trial")
    assert trial.status is Status.UNMET and "No stimulator trial" in trial.detail
    once = _req(det, "scs.one-permanent")
    assert once.status is Status.UNMET and "A57792" in once.detail and once.citation.source.startswith("Billing article A57792")
    assert det.covered == "conditional"
    # Outside Noridian JF (A57792's states) the lifetime limit is not asserted: no source found there.
    tx = _det(policies, _scs_without_trial().add(b.procedure("63685", b.days(2000))), b.order("63655"), state="TX")
    assert "scs.one-permanent" not in {r.id for r in tx.requirements}
    assert _req(tx, "scs.trial").status is Status.UNMET


def test_new_paddle_leads_with_an_earlier_trial_and_implant_are_judged_on_the_trial(policies):
    p = b.scs_ready(b.Patient()).add(b.procedure("63655", b.days(3000)))
    det = _det(policies, p, b.order("63655", "63685"), state="TX")
    trial = _req(det, "scs.trial")
    assert trial.status is Status.MET and trial.detail.startswith("Trial relief")


# ---- SCS evaluation consistency (guide §6.2.5) ------------------------------------------------------
def test_multidisciplinary_evaluation_is_not_met_without_its_psychological_part(policies):
    p = b.scs_ready(b.Patient())
    p.resources = [r for r in p.resources if not (r["resourceType"] == "Procedure" and r["code"]["coding"][0]["code"] == "90791")]
    det = _det(policies, p, b.order("63655"))
    psych, multi = _req(det, "scs.psych-eval"), _req(det, "scs.multidisciplinary")
    assert psych.status is Status.UNMET
    assert multi.status is Status.UNMET and multi.blocked_by == "scs.psych-eval"
    assert "Psychological evaluation" in multi.detail


# ---- OPD program: the permanent implant follows the affirmed trial (CGS / NGS OPD pages) ------------
def test_opd_permanent_implant_uses_the_affirmed_trials_utn(policies):
    p = b.scs_ready(b.Patient())   # trial 63650 done 30 days before the date of service
    p.add(b.decision(("63650",), "A1", b.days(200), utn="JFA00000000063"))  # affirmed before the trial, > 120 days ago
    det = _det(policies, p, b.order("63650"), state="CA", pos="22")
    assert det.program.kind is ProgramKind.OPD_PA
    assert det.pa_needed == "satisfied" and det.prior_auth.utn == "JFA00000000063"
    assert det.prior_auth.citation.url == "https://www.cgsmedicare.com/parta/pa/subs/isn.html"
    assert any("permanent implantation claim" in n for n in det.notes)
    sign = render_response([det], [b.order("63650")], hook="order-sign", crd_version="2.2", config={}, today=b.TODAY,
                           smart_link=fake_smart_link)
    assert any("UTN JFA00000000063 on file" in c["summary"] for c in sign["cards"])


def test_opd_trial_outside_the_program_still_needs_pa_for_the_permanent_implant(policies):
    """No affirmed OPD decision before the trial: the trial was not done under the program (e.g. in an
    office), so 63650 needs PA with the permanent implantation."""
    p = b.scs_ready(b.Patient())
    p.add(b.decision(("63650",), "A1", b.days(10), utn="JFA00000000064", end=b.days(1)))  # decided after the trial, expired
    det = _det(policies, p, b.order("63650"), state="CA", pos="22")
    assert det.pa_needed == "auth-needed" and det.prior_auth.state is PAState.EXPIRED


# ---- ESI baseline before the injection; underperforming first ESI (guide §6.2.10) -----------------
def test_a_score_taken_after_an_injection_is_not_its_baseline(policies):
    p = b.esi_ready(b.Patient())
    p.resources = [r for r in p.resources if r["resourceType"] != "Observation"]
    p.add(b.procedure("64483", b.days(40)), b.score("72514-3", 3, b.days(10)))   # first ESI, then a follow-up score
    det = _det(policies, p, b.order("64483"))
    base = _req(det, "esi.baseline-scale")
    assert base.status is Status.UNMET and "taken after an injection" in base.detail
    assert base.evidence[0].date == b.iso(b.days(10))
    p.add(b.score("72514-3", 8, b.days(45)))                                        # the real baseline
    base = _req(_det(policies, p, b.order("64483")), "esi.baseline-scale")
    assert base.status is Status.MET and b.iso(b.days(45)) in base.detail


def test_first_injection_baseline_must_precede_the_injection_day(policies):
    p = b.esi_ready(b.Patient())
    p.resources = [r for r in p.resources if r["resourceType"] != "Observation"]
    p.add(b.score("72514-3", 7, b.DOS))
    assert _req(_det(policies, p, b.order("64483")), "esi.baseline-scale").status is Status.UNMET


def _underperformed(days_ago: int) -> b.Patient:
    p = b.esi_ready(b.Patient())
    p.resources = [r for r in p.resources if r["resourceType"] != "Observation"]
    first = b.procedure("64483", b.days(days_ago))
    first["bodySite"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "123", "display": "L4-L5"}]}]
    return p.add(first, b.score("72514-3", 8, b.days(days_ago + 3)), b.score("72514-3", 7, b.days(days_ago - 7)))


def test_underperforming_first_esi_allows_a_repeat_with_a_different_approach_after_14_days(policies):
    order = b.order("62323", reason="M54.16")
    order["note"] = [{"text": "Transforaminal L4-5 gave 12% relief; switching to interlaminar for bilateral symptoms."}]
    det = _det(policies, _underperformed(20), order)
    r = _req(det, "esi.repeat-relief")
    assert r.status is Status.MET and "different approach" in r.detail and "Only 12% relief" in r.detail
    # Same approach, same level, no attestation: still the ordinary "only 12% relief" failure.
    same = _det(policies, _underperformed(20), b.order("64483"))
    assert _req(same, "esi.repeat-relief").status is Status.UNMET


def test_underperforming_repeat_waits_14_days_and_needs_a_rationale(policies):
    early = b.order("62323", reason="M54.16")
    early["note"] = [{"text": "switch approach"}]
    r = _req(_det(policies, _underperformed(10), early), "esi.repeat-relief")
    assert r.status is Status.UNMET and "at least 14 days" in r.detail
    level = b.order("64483")
    level["bodySite"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "456", "display": "L5-S1"}]}]
    r = _req(_det(policies, _underperformed(20), level), "esi.repeat-relief")
    assert r.status is Status.UNMET and "needs the rationale" in r.detail
    attested = _underperformed(20).add(b.attest("esi-underperforming-repeat", b.days(2)))
    r = _req(_det(policies, attested, b.order("64483")), "esi.repeat-relief")
    assert r.status is Status.MET and "documented change and rationale" in r.detail


# ---- 62323 only for ESI use (guide Table A10 note a) ------------------------------------------------
def test_62323_for_an_intrathecal_trial_is_not_flagged_as_needing_wiser_pa(policies):
    order = b.order("62323")
    order["note"] = [{"text": "Intrathecal baclofen trial bolus, lumbar, under fluoroscopy"}]
    det = _det(policies, b.esi_ready(b.Patient()), order)
    assert det.pa_needed != "auth-needed" and det.prior_auth.state is not PAState.NEEDED
    assert det.program.kind is ProgramKind.OUT_OF_SCOPE and "intrathecal" in det.reason
    sign = render_response([det], [order], hook="order-sign", crd_version="2.2", config={}, today=b.TODAY,
                           smart_link=fake_smart_link)
    assert not any("prior authorization required" in c["summary"] for c in sign["cards"])


def test_62323_for_an_esi_or_with_no_stated_use_still_needs_wiser_pa(policies):
    esi = b.order("62323", reason="M54.16")
    esi["note"] = [{"text": "Lumbar interlaminar ESI, triamcinolone 80 mg; not an intrathecal injection"}]
    assert _det(policies, b.esi_ready(b.Patient()), esi).pa_needed == "auth-needed"
    silent = _det(policies, b.esi_ready(b.Patient()), b.order("62323"))
    assert silent.program.kind is ProgramKind.WISER and silent.pa_needed == "auth-needed"


# ---- No silence on a covered-without-PA procedure ---------------------------------------------------
def _cards(det, order):
    return render_response([det], [order], hook="order-sign", crd_version="2.2", config={}, today=b.TODAY,
                           smart_link=fake_smart_link)["cards"]


def test_scs_trial_in_an_asc_in_a_wiser_state_gets_an_info_card_naming_the_criteria(policies):
    order = b.order("63650")
    det = _det(policies, b.scs_ready(b.Patient()), order, state="TX", pos="24")
    assert det.program.kind is ProgramKind.LCD and det.pa_needed == "no-auth"
    cards = _cards(det, order)
    info = [c for c in cards if "No prior authorization needed" in c["summary"]]
    assert len(info) == 1 and info[0]["indicator"] == "info"
    body = info[0]["detail"]
    assert "No prior-authorization program applies" in body
    assert "CMS WISeR prior authorization: 63650 is not on its list (63655)" in body
    assert "not an ambulatory surgical center" in body
    assert "Psychological evaluation before implantation" in body and "NCD 160.7" in body
    assert info[0]["links"][0]["url"].startswith("https://www.cms.gov/medicare-coverage-database/")


# ---- Plan packs cite their own criteria, word and validity; LCDs linked to the CMS MCD -------------
def test_plan_pack_requirements_cite_the_pack_and_use_the_plans_word_and_validity(policies):
    order = b.order("64483")
    det = _det(policies, b.esi_ready(b.Patient()), order, sopt="111", payer="EXAMPLE-MA-EVICORE")
    assert det.program.kind is ProgramKind.PLAN_PACK and det.pa_needed == "auth-needed"
    for r in det.requirements:
        assert "WISeR" not in r.citation.source, (r.id, r.citation.source)
        assert "eviCore" in r.citation.source or r.kind == "audit", (r.id, r.citation.source)
    cards = _cards(det, order)
    text = " ".join(c["summary"] + " " + c["detail"] for c in cards)
    assert "UTN" not in text and "prepayment review" not in text
    assert "no authorization number on file" in text and "valid 90 days" in text
    p = b.esi_ready(b.Patient()).add(b.decision(("64483",), "A1", b.days(30), utn="EV123"))
    ok = _det(policies, p, order, sopt="111", payer="EXAMPLE-MA-EVICORE")
    assert ok.prior_auth.expires == b.days(30) + timedelta(days=89)
    assert any("Authorization number EV123 valid until" in c["summary"] + c["detail"] for c in _cards(ok, order))


def test_the_lcd_on_the_card_is_the_programs_and_links_to_the_medicare_coverage_database(policies):
    for order, build in ((b.order("64483"), b.esi_ready), (b.order("63655"), b.scs_ready), (b.order("22513"), b.pva_ready)):
        for state in ("CA", "TX", "AZ", "OH"):
            det = _det(policies, build(b.Patient()), order, state=state, pos="31")   # LCD route everywhere
            assert det.program.kind is ProgramKind.LCD
            assert det.program.label == det.policy_label
            assert det.policy_url.startswith("https://www.cms.gov/medicare-coverage-database/view/"), det.policy_url
            for r in det.requirements:
                assert "verity.backworkai" not in r.citation.url and "automatedworldhealth" not in r.citation.url


# ---- "Ongoing care" means ongoing; painpa's own windows marked and set per tenant --------------------
def _one_off(code: str) -> b.Patient:
    p = b.esi_ready(b.Patient())
    p.resources = [r for r in p.resources if r["resourceType"] != "Procedure"]
    return p.add(b.procedure("97110", b.days(200)), b.procedure("97110", b.days(150)), b.procedure(code, b.days(30)))


def test_a_one_off_evaluation_a_month_ago_is_not_an_active_program(policies):
    det = _det(policies, _one_off("97161"), b.order("64483"))
    r = _req(det, "esi.active-program")
    assert r.status is Status.UNMET and "only an evaluation" in r.detail
    assert "90-day window is painpa's choice" in r.fix and "esi.active-program.within_days" in r.fix
    single = _req(_det(policies, _one_off("97110"), b.order("64483")), "esi.active-program")
    assert single.status is Status.UNMET and "only 1 session" in single.detail
    ongoing = _one_off("97110").add(b.procedure("97110", b.days(12)))
    assert _req(_det(policies, ongoing, b.order("64483")), "esi.active-program").status is Status.MET


def test_painpas_own_windows_are_marked_in_the_data_and_changeable_per_tenant(policies):
    from cds_service.policy.loader import window_keys
    from cds_service.policy.record import TenantDefaults
    keys = window_keys(policies)
    assert keys["esi.active-program.within_days"] == 90 and keys["pva.imaging.within_days"] == 84
    assert keys["scs.psych-eval.within_days"] == 365 and keys["scs.trial.window_days"] == 30
    p = _one_off("97110").add(b.procedure("97110", b.days(100)))     # sessions 100 and 30 days ago
    assert _req(_det(policies, p, b.order("64483")), "esi.active-program").status is Status.UNMET
    p.defaults = TenantDefaults(windows=(("esi.active-program.within_days", 120),))
    r = _req(_det(policies, p, b.order("64483")), "esi.active-program")
    assert r.status is Status.MET and "120 days" in r.detail
