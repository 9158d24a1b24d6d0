"""Which prior-authorization program an imported decision belongs to, for gold-card readiness per
clinician and program (WISeR exemption, domain.md §0): the coverage kind from the Coverage's Source
of Payment Typology and the service code against each program's PA code lists, all from the policy
data (fhir_profiles/policies/medicare-programs-*.json, ARCHITECTURE.md's determination table).

The service state is not on a ClaimResponse, so a traditional-Medicare decision on a WISeR code is
taken as WISeR (PA decisions on those codes exist only in the model's states). Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from cds_service.policy.loader import PolicySet
from cds_service.policy.orders import coverage_kind

SHORT = {"wiser": "WISeR", "opd-pa": "OPD PA"}


def program_resolver(policies: PolicySet, when: date) -> Callable[[dict | None, str], str]:
    """``program_of(coverage, code)`` → "WISeR", "OPD PA" or "" (then the payer and plan name it)."""
    doc = policies.programs(when)
    if doc is None:   # no Medicare program in effect on ``when``
        return lambda coverage, code: ""
    data = doc.data

    def program_of(coverage: dict | None, code: str) -> str:
        kind = coverage_kind(coverage, data["coverage_kinds"])
        for program in data["programs"]:
            if kind not in program.get("coverage_kinds", ()):
                continue
            for fam in (program.get("families") or {}).values():
                vs = policies.valuesets.get(fam.get("pa_codes", ""))
                if vs is not None and vs.contains(None, code):
                    return SHORT.get(program["kind"], program.get("label", program["id"]))
        return ""

    return program_of
