"""The scenario matrix: family × program × requirement state × prior-authorization state, each a
synthetic patient built from :mod:`tests.support.fhir_builders`, with the outcome the design calls for.

Expected values come from the determination table in ARCHITECTURE.md, not from running the engine:
program by coverage/state/setting, ``covered`` by requirement state, ``pa-needed`` by PA state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cds_service.policy.model import PAState, ProgramKind
from tests.support import fhir_builders as b

PROGRAMS: dict[str, tuple[Callable[[], dict], Callable[[], dict], ProgramKind]] = {
    "wiser": (lambda: b.coverage("121", name="Medicare"), lambda: b.location("TX", "11"), ProgramKind.WISER),
    "lcd": (lambda: b.coverage("121", name="Medicare"), lambda: b.location("CA", "11"), ProgramKind.LCD),
    "opd-pa": (lambda: b.coverage("121", name="Medicare"), lambda: b.location("CA", "22"), ProgramKind.OPD_PA),
    "pack-ma": (lambda: b.coverage("111", "EXAMPLE-MA-EVICORE", name="Example Advantage Plan"),
                lambda: b.location("TX", "11"), ProgramKind.PLAN_PACK),
    "pack-commercial": (lambda: b.coverage("5", "EXAMPLE-COMMERCIAL-BCBS", name="Example Blue Commercial"),
                        lambda: b.location("TX", "11"), ProgramKind.PLAN_PACK),
    "unknown-plan": (lambda: b.coverage("5", "ACME-123", name="Acme Health"), lambda: b.location("TX", "11"),
                     ProgramKind.UNKNOWN_PLAN),
}
READY = {"esi": b.esi_ready, "scs": b.scs_ready, "pva": b.pva_ready}
# The requirement each "unmet" / "unknown" scenario breaks, and how.
BROKEN = {"esi": "esi.conservative-care", "scs": "scs.psych-eval", "pva": "pva.pain-severity"}
UNKNOWN = {"esi": ("esi.baseline-scale", "Observation"), "scs": ("scs.psych-eval", "Procedure"),
           "pva": ("pva.pain-severity", "Observation")}
PA_PROGRAMS = {"wiser", "opd-pa", "pack-ma", "pack-commercial"}


@dataclass(frozen=True)
class Scenario:
    family: str
    program: str
    reqs: str          # met | unmet | unknown | four-prior (a 5th ESI in 12 months)
    pa: str            # none | satisfied | expired | non-affirmed | partial | pended | earlier-order

    @property
    def name(self) -> str:
        return f"{self.family}-{self.program}-{self.reqs}-pa-{self.pa}"

    def codes(self) -> tuple[str, ...]:
        if self.family == "esi":
            return ("64483", "64484") if self.pa != "none" else ("64483",)
        if self.family == "scs":
            return ("63650",) if self.program == "opd-pa" else ("63655",)
        return ("22513", "22515") if self.pa != "none" else ("22513",)

    def build(self) -> tuple[list[dict], b.Patient]:
        cov, loc, _ = PROGRAMS[self.program]
        b.reset_ids()
        p = b.Patient().add(cov(), loc())
        READY[self.family](p)
        self._break(p)
        self._prior_auth(p)
        return [b.order(*self.codes())], p

    def _break(self, p: b.Patient) -> None:
        if self.reqs == "unmet":
            if self.family == "esi":       # "Conservative therapy: 2 of 4 required weeks documented"
                p.resources = [r for r in p.resources if r["resourceType"] not in ("Procedure", "MedicationRequest")]
                p.add(b.procedure("97110", b.days(20)), b.procedure("97110", b.days(6)))
            elif self.family == "scs":
                p.resources = [r for r in p.resources if not _coded(r, "90791")]
            else:
                p.resources = [r for r in p.resources if not (_coded(r, "72514-3") and r["resourceType"] == "Observation")]
        elif self.reqs == "unknown":
            target, rtype = UNKNOWN[self.family]
            p.incomplete.add(rtype)
            if self.family == "scs":
                p.resources = [r for r in p.resources if not _coded(r, "90791")]
            else:
                p.resources = [r for r in p.resources if not _coded(r, "72514-3")]
        elif self.reqs == "four-prior":  # 4 lumbar sessions in 12 months, each with >= 3 months of relief
            p.add(*(b.procedure("64483", b.days(n)) for n in (350, 280, 200, 120)))
            p.add(b.score("72514-3", 8, b.days(360)),   # the course's baseline, before its first injection
                  b.score("72514-3", 8, b.days(125)), b.score("72514-3", 2, b.days(20)))

    def _prior_auth(self, p: b.Patient) -> None:
        codes = self.codes()
        if self.pa == "satisfied":
            p.add(b.decision(codes, "A1", b.days(30)))
        elif self.pa == "expired" and self.program == "opd-pa":
            # Decided after the trial on file (day 30): not the trial's decision, which the OPD program
            # would carry over to the permanent implant, but an expired one for this order.
            p.add(b.decision(codes, "A1", b.days(25), end=b.days(5)))
        elif self.pa == "expired":
            p.add(b.decision(codes, "A1", b.days(200)))
        elif self.pa == "non-affirmed":
            p.add(b.decision(codes, "A3", b.days(10)))
        elif self.pa == "partial":
            p.add(b.decision(codes[:1], "A1", b.days(30)))
        elif self.pa == "pended":
            p.add(b.decision(codes, "A4", b.days(3)))
        elif self.pa == "earlier-order":
            earlier = b.order(*codes, sid="sr-earlier", dos=b.days(5))
            earlier["status"] = "active"
            earlier["extension"] = [{"url": "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information",
                                     "extension": [{"url": "coverage", "valueReference": {"reference": "Coverage/cov-1"}},
                                                   {"url": "covered", "valueCode": "covered"},
                                                   {"url": "pa-needed", "valueCode": "satisfied"},
                                                   {"url": "satisfied-pa-id", "valueString": "JFA00000000777"},
                                                   {"url": "date", "valueDate": b.iso(b.days(20))},
                                                   {"url": "coverage-assertion-id", "valueString": "payer-1"}]}]
            p.add(earlier)

    # ---- what the design says should happen -------------------------------------------------
    def expected_program(self) -> ProgramKind:
        if self.program == "pack-commercial" and self.family != "esi":
            return ProgramKind.UNKNOWN_PLAN            # the commercial pack configures ESI only
        return PROGRAMS[self.program][2]

    def expected_covered(self) -> str:
        if self.expected_program() is ProgramKind.UNKNOWN_PLAN:
            return "conditional"
        if self.reqs == "four-prior":   # Medicare and eviCore: a 5th in 12 months; BCBS allows 6
            return "covered" if self.program == "pack-commercial" else "not-covered"
        return {"met": "covered", "unmet": "conditional", "unknown": "conditional"}[self.reqs]

    def expected_pa_needed(self) -> str | None:
        kind = self.expected_program()
        if self.expected_covered() == "not-covered":
            return None
        if kind is ProgramKind.UNKNOWN_PLAN:
            return "conditional"
        if kind is ProgramKind.LCD:
            return "no-auth"
        return "satisfied" if self.pa in ("satisfied", "earlier-order") else "auth-needed"

    def expected_pa_state(self) -> PAState:
        kind = self.expected_program()
        if kind is ProgramKind.UNKNOWN_PLAN:
            return PAState.UNKNOWN
        if kind is ProgramKind.LCD:
            return PAState.NOT_NEEDED
        return {"none": PAState.NEEDED, "satisfied": PAState.SATISFIED, "earlier-order": PAState.SATISFIED,
                "expired": PAState.EXPIRED, "non-affirmed": PAState.NON_AFFIRMED, "partial": PAState.PARTIAL,
                "pended": PAState.PENDED}[self.pa]


def _coded(resource: dict, code: str) -> bool:
    return any(c.get("code") == code for c in (resource.get("code") or {}).get("coding") or ())


def matrix() -> list[Scenario]:
    combos = [("esi", p) for p in ("wiser", "lcd", "pack-ma", "pack-commercial", "unknown-plan")]
    combos += [("scs", p) for p in ("wiser", "opd-pa", "lcd", "pack-ma", "unknown-plan")]
    combos += [("pva", p) for p in ("wiser", "lcd", "pack-ma", "pack-commercial", "unknown-plan")]
    out = []
    for family, program in combos:
        configured = not (program == "unknown-plan" or (program == "pack-commercial" and family != "esi"))
        for reqs in ("met", "unmet", "unknown") if configured else ("met",):
            out.append(Scenario(family, program, reqs, "none"))
        if family == "esi" and program in ("wiser", "lcd", "pack-ma", "pack-commercial"):
            out.append(Scenario(family, program, "four-prior", "none"))
        if program in PA_PROGRAMS and configured:
            states = ["satisfied", "expired", "non-affirmed", "pended", "earlier-order"]
            if family != "scs":
                states.append("partial")
            if program.startswith("pack"):
                states = ["satisfied", "non-affirmed"]
            out += [Scenario(family, program, "met", s) for s in states]
    return out
