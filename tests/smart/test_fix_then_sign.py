"""The order loop across a fix, over real HTTP against real processes: an order-sign without prefetch
reads the chart from the EHR and keeps what it read for the next hook of the order (the warm cache,
cds_service/fhir/warm.py; CRD foundation "Performance"). The clinician then saves the missing piece
in painpa's SMART app; the next order-sign, with the same access token within the cache's two
minutes, must answer from the chart as it is now, not from what was read before the save."""

from __future__ import annotations

from tests.smart.chart import esi_chart
from tests.smart.forms_flow import open_imaging_form, submit_imaging
from tests.smart.hooks import cards_by_title, ehr_token, order_sign

PATIENT, ORDER = "pat-fix-sign", "sr-fix-sign"


def test_an_order_sign_after_a_form_saved_in_the_smart_app_sees_the_fix(stack):
    ehr = stack.ehrs["normal"]
    chart = esi_chart(PATIENT, ORDER)
    ehr.seed(chart)
    order = next(r for r in chart if r["resourceType"] == "ServiceRequest")
    token = ehr_token(ehr, PATIENT)      # the EHR sends one token with every hook of the order

    def unmet() -> set[str]:
        return set(cards_by_title(order_sign(stack, ehr, PATIENT, order, {"max-cards": 50}, token=token))[0])

    before = unmet()
    assert before == unmet(), "the same chart, the same answer (the second from the warm cache)"
    saved = submit_imaging(open_imaging_form(stack, ehr, PATIENT, ORDER), ORDER, "L4-5 disc protrusion.")
    assert saved.status_code == 303, saved.text[-800:]

    after = unmet()
    assert after < before, "the order-sign after the save still answered from the chart read before it"
    (closed,) = before - after
    assert "imaging" in closed.lower()
