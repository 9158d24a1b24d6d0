"""The sandbox's chronic pain management patient (G3002/G3003, domain.md §4): a Medicare patient with
chronic low back pain whose month is incomplete, so the chart's patient-view card has something to
finish in the app. Dates are relative to the seed date, so "this month" holds whenever the sandbox
is started.
"""

from __future__ import annotations

from datetime import date

from sandbox.seed.chart import Chart

CPM_PATIENT = "cpm-chronic"
CPM_SHOWS = ("Chronic pain management (G3002/G3003): this month is incomplete (the care plan lacks the "
             "patient's strengths); the chart's card opens the month's checklist in the app.")
CPM = "http://painpa.org/fhir/CodeSystem/painpa-cpm"


def cpm_chart(today: date) -> dict:
    """A Medicare patient with chronic low back pain (> 3 months) this month: initial visit done, a
    pain score this month, 20 minutes recorded, and a care plan that lacks the patient's strengths."""
    c = Chart(CPM_PATIENT, today)
    c.patient("Evans", "Dorothy", "female", 71, "TX", "Austin")
    c.coverage("1", "Medicare", "payer-medicare", "M000777001")
    cond = c.condition("M54.16", -420)
    first = today.replace(day=1)
    since_first = (first - today).days
    c._add("Encounter", {
        "status": "finished", "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"text": "Chronic pain management: initiating visit"}], "subject": c.ref,
        "period": {"start": f"{c.day(-75)}T09:00:00-06:00", "end": f"{c.day(-75)}T09:45:00-06:00"},
        "reasonReference": [{"reference": f"Condition/{cond['id']}"}],
        "participant": [{"individual": {"reference": "Practitioner/sbx-dr-lee"}}],
    })
    c.score("72514-3", 6, since_first)
    goal = c._add("Goal", {"lifecycleStatus": "active", "subject": c.ref, "description": {"text": "Garden again"},
                           "target": [{"detailString": "Two hours of gardening a week with pain at or below 4/10"}]})
    c._add("CarePlan", {
        "status": "active", "intent": "plan", "title": "Chronic pain management care plan", "subject": c.ref,
        "category": [{"coding": [{"system": CPM, "code": "cpm-care-plan"}]}], "period": {"start": c.day(-75)},
        "addresses": [{"reference": f"Condition/{cond['id']}"}], "goal": [{"reference": f"Goal/{goal['id']}"}],
    })
    c._add("Observation", {
        "status": "final", "code": {"coding": [{"system": CPM, "code": "cpm-minutes"}]}, "subject": c.ref,
        "effectiveDateTime": first.isoformat(), "performer": [{"reference": "Practitioner/sbx-dr-lee"}],
        "valueQuantity": {"value": 20, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"},
        "note": [{"text": "Medication review and PT coordination by phone"}],
    })
    return c.bundle()
