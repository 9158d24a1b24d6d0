"""Print the scenario matrix with outcomes as a Markdown table (for the closing note):

    .venv/bin/python -m tests.policy.print_matrix
"""

from __future__ import annotations

from cds_service.policy.engine import evaluate
from cds_service.policy.loader import load_policies
from cds_service.render import render_response
from tests.policy.scenarios import matrix
from tests.support.fake_smart_link import fake_smart_link
from tests.support.fhir_builders import TODAY


def main() -> None:
    policies = load_policies()
    print("| family | program | requirements | PA on file | routed to | covered | pa-needed | PA state | ok | top card |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in matrix():
        orders, patient = s.build()
        det = evaluate(orders, patient.record(), policies, TODAY)[0]
        resp = render_response([det], orders, hook="order-sign", crd_version="2.2", config={}, today=TODAY,
                               smart_link=fake_smart_link)
        ok = (det.program.kind, det.covered, det.pa_needed, det.prior_auth.state) == (
            s.expected_program(), s.expected_covered(), s.expected_pa_needed(), s.expected_pa_state())
        top = resp["cards"][0]["summary"] if resp["cards"] else "(none)"
        print(f"| {s.family} | {s.program} | {s.reqs} | {s.pa} | {det.program.kind.value} | {det.covered} | "
              f"{det.pa_needed or '—'} | {det.prior_auth.state.value} | {'yes' if ok else 'NO'} | {top} |")


if __name__ == "__main__":
    main()
