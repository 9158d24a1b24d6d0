"""Who is signed in and which patients the EHR lists (read from the sandbox FHIR store, the EHR's
own database; the scenario line says what each synthetic patient demonstrates). Shared by the EHR's
patient list and the authorization server's patient picker (SMART App Launch 2.2 standalone launch
with ``launch/patient``)."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.fhir import store
from sandbox.seed.chronic_pain import CPM_PATIENT, CPM_SHOWS
from sandbox.seed.scenarios import SCENARIOS

SANDBOX_USER = "Practitioner/sbx-dr-lee"
_SHOWS = {s.pid: s for s in SCENARIOS}
_OTHER_SHOWS = {CPM_PATIENT: CPM_SHOWS}   # seeded patients that are not order scenarios


@dataclass(frozen=True)
class PatientRow:
    id: str
    name: str
    gender: str
    birth_date: str
    state: str
    coverage: str
    shows: str


def display_name(patient: dict) -> str:
    name = (patient.get("name") or [{}])[0]
    return " ".join([*name.get("given", []), name.get("family", "")]).strip() or patient.get("id", "")


def scenario(pid: str):
    return _SHOWS.get(pid)


def patient_choices(db) -> list[PatientRow]:
    with db.session() as s:
        patients = store.candidates(s, "Patient", None)
        coverages = {}
        for cov in store.candidates(s, "Coverage", None):
            pid = cov.get("beneficiary", {}).get("reference", "").split("/")[-1]
            coverages.setdefault(pid, (cov.get("payor") or [{}])[0].get("display", ""))
    order = {s.pid: i for i, s in enumerate(SCENARIOS)}
    patients.sort(key=lambda p: (order.get(p["id"], len(order)), display_name(p)))
    rows = []
    for p in patients:
        sc = _SHOWS.get(p["id"])
        state = next((a.get("state", "") for a in p.get("address") or []), "")
        rows.append(PatientRow(p["id"], display_name(p), p.get("gender", ""), p.get("birthDate", ""), state,
                               coverages.get(p["id"], ""), sc.shows if sc else _OTHER_SHOWS.get(p["id"], "")))
    return rows
