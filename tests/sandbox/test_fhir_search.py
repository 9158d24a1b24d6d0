"""FHIR R4 §3.1.1 Search semantics of the sandbox server: reference (patient/subject), token with
system and comma OR, date prefixes as ranges, status/category/use, _count paging with next links,
_sort=-date, _include, _summary=count, unknown parameters (lenient vs Prefer: handling=strict)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

LOINC = "http://loinc.org"


def obs(pid: str, code: str, when: str, *, system: str = LOINC, category: str = "survey", status: str = "final") -> dict:
    return {"resourceType": "Observation", "status": status,
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": category}]}],
            "code": {"coding": [{"system": system, "code": code}]}, "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": when, "valueInteger": 5}


@pytest.fixture
def h(client, token):
    headers = token()
    for pid in ("p1", "p2"):
        client.put(f"/fhir/Patient/{pid}", json={"resourceType": "Patient", "id": pid}, headers=headers)
    rows = [obs("p1", "72514-3", "2026-01-10"), obs("p1", "97909-6", "2026-03-05T10:00:00Z"),
            obs("p1", "72514-3", "2026-06-20", category="vital-signs"), obs("p1", "72514-3", "2026-09-01", status="amended"),
            obs("p2", "72514-3", "2026-02-01"), obs("p1", "72514-3", "2026-04-01", system="http://example.org/local")]
    for row in rows:
        assert client.post("/fhir/Observation", json=row, headers=headers).status_code == 201
    return headers


def search(client, h, query: str) -> dict:
    resp = client.get(f"/fhir/{query}", headers=h)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    bundle = resp.get_json(force=True)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return bundle


def dates(bundle: dict) -> list[str]:
    return [e["resource"]["effectiveDateTime"][:10] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def test_patient_and_subject_reference_forms(client, h):
    assert search(client, h, "Observation?patient=p1")["total"] == 5
    assert search(client, h, "Observation?subject=Patient/p2")["total"] == 1
    assert search(client, h, "Observation?patient=Patient/p1&code=97909-6")["total"] == 1
    assert search(client, h, "Observation?patient=nobody")["total"] == 0


def test_token_with_system_and_or_lists(client, h):
    assert search(client, h, f"Observation?patient=p1&code={LOINC}|72514-3")["total"] == 3  # not the local-system one
    assert search(client, h, "Observation?patient=p1&code=72514-3")["total"] == 4          # any system
    assert search(client, h, f"Observation?patient=p1&code={LOINC}|72514-3,{LOINC}|97909-6")["total"] == 4
    assert search(client, h, "Observation?patient=p1&code=http://example.org/local|")["total"] == 1  # system only
    assert search(client, h, "Observation?patient=p1&category=vital-signs")["total"] == 1
    assert search(client, h, "Observation?patient=p1&status=final,amended")["total"] == 5
    assert search(client, h, "Observation?patient=p1&status=amended")["total"] == 1


@pytest.mark.parametrize(("query", "expected"), [
    ("date=2026-03", ["2026-03-05"]),
    ("date=eq2026-01-10", ["2026-01-10"]),
    ("date=lt2026-03-05", ["2026-01-10"]),              # the whole day of 03-05 starts after nothing earlier
    ("date=le2026-03-05", ["2026-01-10", "2026-03-05"]),
    ("date=gt2026-06-20", ["2026-09-01"]),
    ("date=ge2026-06-20", ["2026-06-20", "2026-09-01"]),
    ("date=ge2026-03-01&date=lt2026-07-01", ["2026-03-05", "2026-04-01", "2026-06-20"]),  # AND of two
])
def test_date_prefixes(client, h, query, expected):
    assert sorted(dates(search(client, h, f"Observation?patient=p1&{query}"))) == expected


def test_sort_descending_by_date(client, h):
    got = dates(search(client, h, "Observation?patient=p1&_sort=-date"))
    assert got == sorted(got, reverse=True) and len(got) == 5
    got = dates(search(client, h, "Observation?patient=p1&_sort=date"))
    assert got == sorted(got)


def test_count_pages_with_next_links_until_exhausted(client, h):
    seen, url, pages = [], "Observation?patient=p1&_sort=-date&_count=2", 0
    while url:
        bundle = search(client, h, url)
        pages += 1
        assert bundle["total"] == 5 and len(bundle["entry"]) <= 2
        seen += dates(bundle)
        nxt = next((lk["url"] for lk in bundle["link"] if lk["relation"] == "next"), None)
        url = None
        if nxt:
            parts = urlsplit(nxt)
            assert parts.path == "/fhir/Observation"
            url = f"Observation?{parts.query}"
    assert pages == 3 and seen == sorted(seen, reverse=True) and len(set(seen)) == 5


def test_summary_count_and_self_link_shows_only_executed_parameters(client, h):
    bundle = search(client, h, "Observation?patient=p1&_summary=count&frobnicate=1")
    assert bundle["total"] == 5 and "entry" not in bundle
    self_url = bundle["link"][0]["url"]
    assert "patient=p1" in self_url and "frobnicate" not in self_url
    strict = client.get("/fhir/Observation?patient=p1&frobnicate=1", headers={**h, "Prefer": "handling=strict"})
    assert strict.status_code == 400


def test_include_adds_referenced_resources_once(client, h):
    client.put("/fhir/Claim/c1", headers=h, json={
        "resourceType": "Claim", "id": "c1", "status": "active", "use": "preauthorization",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "patient": {"reference": "Patient/p1"}, "created": "2026-01-01", "provider": {"reference": "Practitioner/x"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/x"}}]})
    for rid in ("r1", "r2"):
        client.put(f"/fhir/ClaimResponse/{rid}", headers=h, json={
            "resourceType": "ClaimResponse", "id": rid, "status": "active", "use": "preauthorization",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
            "patient": {"reference": "Patient/p1"}, "created": "2026-01-02", "insurer": {"reference": "Organization/o"},
            "outcome": "complete", "request": {"reference": "Claim/c1"}})
    bundle = search(client, h, "ClaimResponse?patient=p1&use=preauthorization&_include=ClaimResponse:request")
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]]
    assert modes.count(("ClaimResponse", "match")) == 2 and modes.count(("Claim", "include")) == 1
    assert bundle["total"] == 2
    assert client.get("/fhir/ClaimResponse?_include=Claim:patient", headers=h).status_code == 400


def test_post_search_matches_get(client, h):
    resp = client.post("/fhir/Observation/_search", data={"patient": "p1", "code": "97909-6"}, headers=h)
    assert resp.status_code == 200 and resp.get_json(force=True)["total"] == 1
