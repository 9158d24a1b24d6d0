"""A synthetic chart with every kind of gap the policy engine reports for an ESI order under WISeR
(Texas, traditional Medicare): no qualifying diagnosis, no conservative care, no active program,
no baseline score, no imaging, no PA decision. Used by the form unit tests and the browser test."""

from __future__ import annotations

from datetime import date, timedelta

CPT = "http://www.ama-assn.org/go/cpt"


def esi_chart(patient_id: str = "pat-1", order_id: str = "sr-esi-1", today: date | None = None) -> list[dict]:
    today = today or date.today()
    dos = (today + timedelta(days=14)).isoformat()
    return [
        {"resourceType": "Patient", "id": patient_id, "name": [{"given": ["Ada"], "family": "Quill"}],
         "birthDate": "1956-03-14", "gender": "female",
         "address": [{"state": "TX", "postalCode": "75201"}]},
        {"resourceType": "Organization", "id": "org-mac", "name": "Novitas Solutions (JH)"},
        {"resourceType": "Practitioner", "id": "dr-1", "name": [{"given": ["Lee"], "family": "Park"}]},
        {"resourceType": "Coverage", "id": "cov-1", "status": "active",
         "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": "121", "display": "Medicare FFS"}]},
         "beneficiary": {"reference": f"Patient/{patient_id}"}, "payor": [{"reference": "Organization/org-mac"}]},
        {"resourceType": "Location", "id": "loc-1", "name": "Dallas pain clinic", "address": {"state": "TX"},
         "type": [{"coding": [{"system": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
                               "code": "11"}]}]},
        {"resourceType": "ServiceRequest", "id": order_id, "status": "draft", "intent": "order",
         "code": {"coding": [{"system": CPT, "code": "62323",
                              "display": "Injection, interlaminar epidural, lumbar or sacral, with imaging guidance"}],
                  "text": "Lumbar interlaminar epidural steroid injection"},
         "subject": {"reference": f"Patient/{patient_id}"}, "requester": {"reference": "Practitioner/dr-1"},
         "authoredOn": today.isoformat(), "occurrenceDateTime": dos,
         "locationReference": [{"reference": "Location/loc-1"}],
         "insurance": [{"reference": "Coverage/cov-1"}]},
    ]
