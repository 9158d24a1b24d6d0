"""Data gathering against a real FHIR server process (CDS Hooks 2.0 §Prefetch, §FHIR Resource
Access; standards.md §7 budget and §8.3): CC-25, CC-26, CC-28, CC-29, CC-56 at the gather level."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from cds_service.config import secret_key
from cds_service.fhir import warm
from cds_service.fhir.gather import gather, render_template
from cds_service.fhir.queries import QUERIES
from cds_service.store import init_db
from tests.support.deployment import fresh_postgres_database
from tests.support.hook_requests import find, load

TOKEN = "tok-" + "x" * 20


@pytest.fixture
def fast(settings):
    return replace(settings, fhir_deadline_s=2.0, fhir_read_timeout_s=1.5, fhir_max_pages=5)


def _gather(settings, fhir, **kw):
    return gather(patient_id="pt-esi-1", settings=settings, fhir_server=fhir.base, access_token=TOKEN,
                  context={"userId": "PractitionerRole/role-pain-1"}, **kw)


def test_cc25_missing_prefetch_is_queried_with_the_bearer_token(fast, fhir):
    record = _gather(fast, fhir)
    assert record.patient["id"] == "pt-esi-1"
    assert [c["id"] for c in record.coverages] == ["cov-mcr-1"]
    assert len(record.of("Procedure")) == 6  # two pages of four: the next link was followed
    assert not record.incomplete
    log = fhir.log()
    assert log and all(entry["auth"] for entry in log)
    assert any("_page=1" in e["query"] for e in log if e["path"] == "/fhir/Procedure")


def test_cc26_operation_outcome_or_null_prefetch_is_queried(fast, fhir):
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}
    record = _gather(fast, fhir, prefetch={"patient": outcome, "coverage": None})
    assert record.patient is not None and record.coverages
    paths = {e["path"] for e in fhir.log()}
    assert {"/fhir/Patient/pt-esi-1", "/fhir/Coverage"} <= paths


def test_prefetched_keys_are_not_queried(fast, fhir):
    prefetch = {"patient": find("Patient", "pt-esi-1"),
                "coverage": {"resourceType": "Bundle", "type": "searchset",
                             "entry": [{"resource": find("Coverage", "cov-mcr-1")}]}}
    _gather(fast, fhir, prefetch=prefetch)
    paths = {e["path"] for e in fhir.log()}
    assert "/fhir/Patient/pt-esi-1" not in paths and "/fhir/Coverage" not in paths
    assert "/fhir/Procedure" in paths


def test_without_fhir_access_missing_types_are_incomplete(fast):
    record = gather(patient_id="pt-esi-1", settings=fast, prefetch={"patient": find("Patient", "pt-esi-1")})
    assert record.patient is not None
    assert {"Coverage", "Procedure", "Observation"} <= record.incomplete
    assert "Patient" not in record.incomplete


def test_failed_query_marks_its_type_incomplete(fast, fhir):
    fhir.control(fail=["Procedure"])
    record = _gather(fast, fhir)
    assert "Procedure" in record.incomplete
    assert record.coverages  # the rest still arrived


def test_cc28_redirect_is_not_followed(fast, fhir):
    fhir.control(redirect=["Observation"])
    record = _gather(fast, fhir)
    assert "Observation" in record.incomplete  # 302 → failure, never a request to the Location


def test_cc29_next_link_to_another_host_is_not_followed(fast, fhir):
    fhir.control(foreign_next=["Procedure"])
    record = _gather(fast, fhir)
    assert len(record.of("Procedure")) == 4  # first page only


def test_cc29_absolute_reference_to_another_host_is_not_read(fast, fhir):
    order = load("orders.json")["esi"]
    order["locationReference"] = [{"reference": "https://elsewhere.example/fhir/Location/loc-x"}]
    order["performer"] = [{"reference": f"{fhir.base}/PractitionerRole/role-pain-1"}]
    record = _gather(fast, fhir, orders=[order])
    assert record.resolve("PractitionerRole/role-pain-1") is not None
    assert record.resolve("Location/loc-asc-1") is not None  # PractitionerRole.location, second round
    assert record.resolve("Location/loc-x") is None


def test_second_round_reads_order_references(fast, fhir):
    order = load("orders.json")["esi"]
    record = _gather(fast, fhir, orders=[order])
    assert record.resolve("Location/loc-asc-1")["address"]["state"] == "TX"
    assert record.resolve("PractitionerRole/role-pain-1") is not None


def test_cc56_hanging_server_answers_within_the_deadline(settings, fhir):
    tight = replace(settings, fhir_deadline_s=0.6, fhir_read_timeout_s=5)
    fhir.control(slow={"Observation": 3})
    started = time.monotonic()
    record = _gather(tight, fhir)
    elapsed = time.monotonic() - started
    # Without the deadline the 3 s answer would have arrived (read timeout 5 s): its absence shows the cut.
    assert "Observation" in record.incomplete and not record.of("Observation")
    assert record.coverages
    print(f"gather with a hanging Observation query returned after {elapsed:.2f}s (deadline 0.6s)")


def test_cache_is_per_patient_user_and_token(fast, fhir):
    scope = ("iss-a", None)
    _gather(fast, fhir, cache_scope=scope)
    first = len(fhir.log())
    _gather(fast, fhir, cache_scope=scope)  # order-select warmed order-sign: no new search
    assert len([e for e in fhir.log()[first:] if e["path"] == "/fhir/Procedure"]) == 0
    gather(patient_id="pt-esi-1", settings=fast, fhir_server=fhir.base, access_token="another-token",
           context={"userId": "PractitionerRole/role-pain-1"}, cache_scope=scope)
    assert any(e["path"] == "/fhir/Procedure" for e in fhir.log()[first:])  # new token: no reuse
    before = len(fhir.log())
    gather(patient_id="pt-esi-1", settings=fast, fhir_server=fhir.base, access_token=TOKEN,
           context={"userId": "Practitioner/dr-pain-1"}, cache_scope=scope)
    assert any(e["path"] == "/fhir/Procedure" for e in fhir.log()[before:])  # other user: no reuse
    before = len(fhir.log())
    gather(patient_id="pt-other", settings=fast, fhir_server=fhir.base, access_token=TOKEN,
           context={"userId": "PractitionerRole/role-pain-1"}, cache_scope=scope)
    assert any(e["path"] == "/fhir/Procedure" for e in fhir.log()[before:])  # other patient: no reuse


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_chart_the_smart_app_wrote_to_is_read_again_not_answered_from_the_warm_cache(fast, fhir, tmp_path,
                                                                                       database, request):
    """order-select warms order-sign (same patient, user, token); when painpa's SMART app saves a
    form to the chart in between (the fix a card offered), the order-sign reads the chart again, on
    whichever worker or host it lands (the write is recorded in the database)."""
    db = init_db(f"sqlite:///{tmp_path / 'writes.db'}" if database == "sqlite"
                 else fresh_postgres_database(request.getfixturevalue("postgres_url")))
    try:
        scope = ("iss-a", None)

        def procedure_reads() -> int:
            return sum(e["path"] == "/fhir/Procedure" for e in fhir.log())

        _gather(fast, fhir, cache_scope=scope, db=db)                       # order-select
        _gather(fast, fhir, cache_scope=scope, db=db)                       # order-sign: from the cache
        assert procedure_reads() == 2                                       # two pages, read once
        # The same base written differently by the SMART app's iss still names the same chart.
        warm.chart_written(db, secret_key(fast), fhir.base.replace("http://", "HTTP://") + "/", "pt-esi-1")
        _gather(fast, fhir, cache_scope=scope, db=db)                       # order-sign after the save
        assert procedure_reads() == 4
        _gather(fast, fhir, cache_scope=scope, db=db)                       # what it read is warm again
        assert procedure_reads() == 4
        warm.chart_written(db, secret_key(fast), fhir.base, "pt-other")     # another patient's chart
        _gather(fast, fhir, cache_scope=scope, db=db)
        assert procedure_reads() == 4
    finally:
        db.dispose()


def test_templates_render_only_with_values():
    q = {q.key: q.template for q in QUERIES}
    assert render_template(q["patient"], {"patientId": "p1"}) == "Patient/p1"
    assert render_template(q["user"], {"userId": None}) is None
    assert render_template("Encounter/{{context.encounterId}}", {"patientId": "p"}) is None


def test_extra_prefetch_keys_are_kept(fast):
    loc = find("Location", "loc-asc-1")
    record = gather(patient_id="pt-esi-1", settings=fast,
                    prefetch={"locations": {"resourceType": "Bundle", "entry": [{"resource": loc}]},
                              "junk": "not a resource"})
    assert record.resolve("Location/loc-asc-1") == loc


def test_a_calls_reads_run_on_its_own_thread_and_start_none(fast, fhir, threads_started):
    """A round's reads run at once on libcurl's multi interface in the calling thread: no thread is
    started for them (a pool per call cost ~1 ms of CPU per round in thread starts, and a thread
    per read more still; bench/RESULTS.md)."""
    _gather(fast, fhir)
    queries = len(fhir.log())
    threads_started.clear()
    for _ in range(5):
        fhir.reset()
        assert not _gather(fast, fhir).incomplete
        assert len(fhir.log()) == queries > 5
    assert threads_started == []


def test_one_call_follows_a_bounded_number_of_references(fast, fhir):
    """A draft order naming hundreds of references cannot fill the EHR with reads: at most
    MAX_REFERENCES references are followed (the policy reads a handful). How many of one call's
    reads run at once: tests/security/test_curl_transport.py."""
    from cds_service.fhir import gather as gathering

    order = load("orders.json")["esi"]
    order["performer"] = [{"reference": f"PractitionerRole/ghost-{i}"} for i in range(300)]
    record = _gather(replace(fast, fhir_deadline_s=10.0), fhir, orders=[order])
    user = "/fhir/PractitionerRole/role-pain-1"      # the userId query, not a reference
    reads = [e["path"] for e in fhir.log() if e["path"] != user
             and e["path"].count("/") == 3 and e["path"].split("/")[2] in gathering.FOLLOWED_TYPES]
    assert len(reads) == gathering.MAX_REFERENCES == len(set(reads))      # none read twice
    assert sum("/ghost-" in path for path in reads) >= gathering.MAX_REFERENCES - 5
    assert "PractitionerRole" in record.incomplete and "Coverage" not in record.incomplete
