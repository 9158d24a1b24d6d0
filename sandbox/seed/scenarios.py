"""The synthetic patients: one per situation painpa must handle, each with the line the patient
list shows ("what this patient shows"). Together they cover every program (WISeR state, other
state, hospital outpatient 63650, Medicare Advantage with and without a plan pack, commercial),
every requirement state (met / unmet / unknown) and every prior-authorization state (none,
affirmed with UTN, expired, non-affirmed, pended, partial codes). Facts: domain.md §1–§2, §6.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.codes import CPT, SNOMED
from sandbox.seed.chart import Chart


@dataclass(frozen=True)
class Scenario:
    pid: str
    name: tuple[str, str, str, int]          # family, given, gender, age
    state: str
    coverage: str                            # a key of COVERAGE
    shows: str                               # one line for the patient list
    order: dict                              # default order on the order screen
    build: Callable[[Chart, dict], None]
    tags: tuple[str, ...] = field(default=())


COVERAGE = {  # kind → (SOPT code, label, payer organization)
    "medicare": ("1", "Medicare", "payer-medicare"),
    "medicare-121": ("121", "Medicare FFS", "payer-medicare"),
    "medicare-12": ("12", "Medicare (Non-managed Care)", "payer-medicare"),
    "ma-pack": ("111", "Medicare HMO", "payer-example-ma"),
    "ma-nopack": ("112", "Medicare PPO", "payer-sunrise-ma"),
    "commercial-pack": ("512", "Commercial Managed Care - PPO", "payer-example-blue"),
    "commercial": ("512", "Commercial Managed Care - PPO", "payer-acme"),
}


def esi(code: str = "64483", levels: int = 1, laterality: str = "left", pos: str = "24", level: str = "L4-L5") -> dict:
    return {"family": "esi", "code": code, "levels": levels, "laterality": laterality, "pos": pos, "level": level}


def _radicular(c: Chart, *, pt_weeks: int = 6, score: bool = True, imaging: bool = True, meds: bool = True,
               dx: str = "M54.16") -> None:
    c.condition(dx, -120)
    if pt_weeks:
        c.physical_therapy(-14 - pt_weeks * 7, pt_weeks)
    if meds:
        c.medication("5640", -100, -10)
        c.medication("25480", -60)
    if score:
        c.score("72514-3", 7, -5)
        c.score("97909-6", 46, -5)
    if imaging:
        c.imaging("MR", "lumbar spine", -30, "L4-L5 left foraminal disc protrusion contacting the exiting L4 root; "
                                             "concordant with left L4 radicular pain.")
    c.note("Pain clinic visit", "Left leg radicular pain for 4 months despite PT and NSAIDs. Home exercise "
                                "program ongoing. Plan: left L4-L5 transforaminal ESI under fluoroscopy.", -5)


def _scs(c: Chart, *, trial: bool = True, psych: bool = True) -> None:
    c.condition("M96.1", -900)
    c.condition("G89.4", -700)
    c.procedure(CPT, "63047", -1000, display="Lumbar laminectomy")
    c.physical_therapy(-500, 8)
    c.medication("25480", -600)
    c.medication("140587", -400, -100)
    c.score("72514-3", 8, -60)
    c.score("97909-6", 58, -60)
    if psych:
        c.procedure(CPT, "90791", -90, note="Psychological evaluation for SCS candidacy: appropriate candidate; "
                                            "no active substance use.")
    if trial:
        c.procedure(CPT, "63650", -21, note="7-day percutaneous SCS trial: 65% reduction in leg pain, walking "
                                            "tolerance doubled, opioid use halved.")
        c.score("72514-3", 3, -15)
        c.attest("trial-functional-improvement", "Walking tolerance doubled during the trial", -15)
        c.attest("percutaneous-leads-not-candidate", "Prior L4-5 instrumentation and epidural scarring", -10)
    if psych:
        c.attest("multidisciplinary-evaluation", "Spine conference: pain, surgery, PT and psychology reviewed", -10)
    c.note("Multidisciplinary spine conference", "Failed back surgery syndrome after L4-5 laminectomy. Failed PT, "
                                                 "medications and injections. Not a candidate for percutaneous "
                                                 "leads: prior instrumentation and epidural scarring.", -10)


def _pva(c: Chart, *, mri: bool = True, dx: tuple[str, ...] = ("M80.08XA",), workup: bool = True) -> None:
    for code in dx:
        c.condition(code, -28)
    c.medication("5640", -28)
    c.procedure(SNOMED, "229065009", -27, -3, display="Bracing and activity modification")
    c.score("72514-3", 8, -3)
    if mri:
        c.imaging("MR", "thoracolumbar spine", -20, "Acute L1 compression fracture with marrow edema, 35% "
                                                   "height loss; no retropulsion.")
    c.attest("fracture-progression", "35% height loss on MRI and kyphotic deformity", -3)
    if workup:
        c.procedure(CPT, "77080", -18, note="DXA: T-score -3.1. Referred to osteoporosis clinic.")
    c.note("Spine clinic visit", "Severe mid-back pain since a fall 4 weeks ago, NRS 8 despite bracing and "
                                 "analgesics. Plan: L1 kyphoplasty.", -3)


def _cov(c: Chart, ctx: dict) -> dict:
    return ctx["coverage"]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("tx-esi-fix", ("Garcia", "Maria", "female", 68), "TX", "medicare",
             "WISeR ESI (TX): only 2 of 4 weeks of conservative therapy and no PA yet; fix it in the app",
             esi(), lambda c, x: _radicular(c, pt_weeks=2, meds=False), ("loop",)),
    Scenario("tx-esi-ready", ("Nguyen", "Thomas", "male", 72), "TX", "medicare-121",
             "WISeR ESI (TX): every criterion met and an affirmed UTN covers 64483",
             esi(), lambda c, x: (_radicular(c), c.prior_auth(["64483"], "A1", -10, coverage=_cov(c, x),
                                                              utn="JHA10000000001"))),
    Scenario("tx-esi-noscore", ("Johnson", "Robert", "male", 70), "TX", "medicare",
             "WISeR ESI (TX): therapy and imaging on file but no baseline pain or function score",
             esi(), lambda c, x: _radicular(c, score=False)),
    Scenario("oh-esi-expired", ("Miller", "Linda", "female", 75), "OH", "medicare-12",
             "WISeR ESI (OH): criteria met but the UTN expired (affirmed 150 days ago)",
             esi(), lambda c, x: (_radicular(c), c.prior_auth(["64483"], "A1", -150, coverage=_cov(c, x),
                                                              utn="15A20000000002"))),
    Scenario("nj-esi-denied", ("Rossi", "Anthony", "male", 67), "NJ", "medicare",
             "WISeR ESI (NJ): prior authorization non-affirmed, with the specific denial reason",
             esi(), lambda c, x: (_radicular(c, pt_weeks=3), c.prior_auth(
                 ["64483"], "A3", -6, coverage=_cov(c, x), utn="JLA30000000003",
                 reason="Non-affirmed: conservative care of at least 4 weeks not documented (LCD L36920).")),
             ),
    Scenario("az-esi-pended", ("Begay", "Sharon", "female", 66), "AZ", "medicare",
             "WISeR ESI (AZ): prior authorization pended, waiting for documents",
             esi(), lambda c, x: (_radicular(c), c.prior_auth(["64483"], "A4", -1, coverage=_cov(c, x), utn=None))),
    Scenario("wa-esi-partial", ("Olsen", "Erik", "male", 71), "WA", "medicare",
             "WISeR ESI (WA): two-level order but the affirmed UTN covers 64483 only (64484 missing)",
             esi(levels=2, level="L4-L5, L5-S1"),
             lambda c, x: (_radicular(c), c.prior_auth(["64483"], "A1", -12, coverage=_cov(c, x), utn="JFA40000000004"))),
    Scenario("ok-esi-unknown", ("Walker", "Dorothy", "female", 69), "OK", "medicare",
             "WISeR ESI (OK): new patient, nothing on file yet: requirements unknown, not guessed",
             esi(), lambda c, x: None),
    Scenario("ca-esi-lcd", ("Lopez", "Carmen", "female", 74), "CA", "medicare",
             "Medicare ESI outside WISeR (CA): no prior authorization, LCD documentation complete",
             esi(), lambda c, x: _radicular(c)),
    Scenario("fl-esi-axial", ("Brown", "James", "male", 77), "FL", "medicare",
             "Medicare ESI outside WISeR (FL): axial low back pain only, no radicular indication",
             esi(code="62323", level="L4-L5"), lambda c, x: _radicular(c, dx="M54.50")),
    Scenario("tx-esi-frequency", ("Davis", "Patricia", "female", 73), "TX", "medicare",
             "WISeR ESI (TX): four lumbar ESIs in the past 12 months: a fifth is not covered",
             esi(), lambda c, x: (_radicular(c), [c.procedure(CPT, "64483", d) for d in (-330, -250, -160, -70)])),
    Scenario("tx-esi-repeat", ("Wilson", "George", "male", 76), "TX", "medicare",
             "WISeR ESI (TX): repeat ESI after 60% sustained relief on the same scale for 4 months",
             esi(), lambda c, x: (_radicular(c), c.score("72514-3", 8, -140), c.procedure(CPT, "64483", -130),
                                  c.score("72514-3", 3, -100), c.score("72514-3", 3, -20))),
    Scenario("oh-esi-zoster", ("Taylor", "Helen", "female", 79), "OH", "medicare",
             "WISeR ESI (OH): acute herpes zoster pain: the 4-week conservative-care rule does not apply",
             esi(code="64479", level="T8-T9", laterality="right"),
             lambda c, x: (c.condition("B02.29", -12), c.medication("25480", -10), c.score("72514-3", 9, -1),
                           c.imaging("MR", "thoracic spine", -4, "No compressive lesion; findings compatible "
                                                                 "with T8 zoster radiculitis."),
                           c.attest("active-rehab-program", "Daily home exercise program since diagnosis", -1))),
    Scenario("tx-scs-paddle", ("Martinez", "Jose", "male", 64), "TX", "medicare",
             "WISeR SCS paddle 63655 (TX): trial 65% relief, psych evaluation done; PA not yet requested",
             {"family": "scs", "code": "63655", "levels": 1, "laterality": "bilateral", "pos": "24", "level": "T9-T10"},
             lambda c, x: _scs(c)),
    Scenario("oh-scs-nopsych", ("Anderson", "Karen", "female", 62), "OH", "medicare",
             "WISeR SCS paddle 63655 (OH): no psychological evaluation on file",
             {"family": "scs", "code": "63655", "levels": 1, "laterality": "bilateral", "pos": "24", "level": "T9-T10"},
             lambda c, x: _scs(c, psych=False)),
    Scenario("ny-scs-opd", ("Cohen", "David", "male", 66), "NY", "medicare",
             "OPD prior authorization (NY): percutaneous SCS 63650 in a hospital outpatient department",
             {"family": "scs", "code": "63650", "levels": 1, "laterality": "bilateral", "pos": "22", "level": "T9-T10"},
             lambda c, x: _scs(c, trial=False)),
    Scenario("fl-scs-opd-affirmed", ("Jackson", "Ruth", "female", 68), "FL", "medicare",
             "OPD prior authorization (FL): 63650 in a hospital outpatient department, affirmed UTN on file",
             {"family": "scs", "code": "63650", "levels": 1, "laterality": "bilateral", "pos": "22", "level": "T9-T10"},
             lambda c, x: (_scs(c, trial=False), c.prior_auth(["63650"], "A1", -20, coverage=_cov(c, x),
                                                              utn="09A50000000005"))),
    Scenario("tx-pva-ready", ("Harris", "Betty", "female", 81), "TX", "medicare",
             "WISeR kyphoplasty (TX): acute osteoporotic L1 fracture, MRI edema, NRS 8; PA not yet requested",
             {"family": "pva", "code": "22514", "levels": 1, "laterality": "midline", "pos": "22", "level": "L1"},
             lambda c, x: _pva(c)),
    Scenario("az-pva-nomri", ("Clark", "Edward", "male", 84), "AZ", "medicare",
             "WISeR kyphoplasty (AZ): no MRI, CT or bone scan confirming an acute fracture",
             {"family": "pva", "code": "22514", "levels": 1, "laterality": "midline", "pos": "22", "level": "L1"},
             lambda c, x: _pva(c, mri=False)),
    Scenario("wa-pva-myeloma", ("Young", "Frances", "female", 70), "WA", "medicare",
             "WISeR vertebroplasty (WA): myeloma with pathological fracture (two-code rule), affirmed UTN",
             {"family": "pva", "code": "22511", "levels": 1, "laterality": "midline", "pos": "22", "level": "L2"},
             lambda c, x: (_pva(c, dx=("C90.00", "M84.58XA"), workup=False),
                           c.prior_auth(["22511"], "A1", -5, coverage=_cov(c, x), utn="JFA60000000006"))),
    Scenario("tx-ma-pack", ("Hernandez", "Luis", "male", 69), "TX", "ma-pack",
             "Medicare Advantage with a configured plan pack (TX): not WISeR; the plan's own criteria apply",
             esi(), lambda c, x: _radicular(c)),
    Scenario("tx-ma-nopack", ("King", "Barbara", "female", 71), "TX", "ma-nopack",
             "Medicare Advantage without a plan pack (TX): painpa says 'conditional' and never guesses",
             esi(), lambda c, x: _radicular(c)),
    Scenario("tx-commercial-pack", ("Wright", "Kevin", "male", 52), "TX", "commercial-pack",
             "Commercial PPO with a configured plan pack (TX): the plan's ESI criteria and PA rule apply",
             esi(), lambda c, x: _radicular(c)),
    Scenario("tx-commercial", ("Scott", "Angela", "female", 47), "TX", "commercial",
             "Commercial PPO without a plan pack (TX): not Medicare, so coverage is conditional",
             esi(), lambda c, x: _radicular(c)),
)
