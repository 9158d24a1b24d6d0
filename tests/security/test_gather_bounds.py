"""Bounds on what a FHIR server can make painpa do (standards.md §8.15 "pagination depth";
fault injection), at the level of ``gather`` against the hostile server process:

- endless ``next`` links stop at ``fhir_max_pages``; the pages read are kept and the type is marked
  incomplete (the policy then says unknown, not unmet, for what may be on the pages not read);
- a server that drips its body or announces 64 MB cannot keep a read past the deadline;
- an answer of the wrong resource type counts as a failed query, not as "no data".
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from cds_service.fhir.gather import clear_cache, gather
from tests.support.serve_harness import hostile_fhir


@pytest.fixture(scope="module")
def hostile():
    with hostile_fhir() as server:
        yield server


@pytest.fixture
def fast(settings):
    clear_cache()
    return replace(settings, fhir_deadline_s=1.0, fhir_read_timeout_s=0.8)


def _gather(server, settings, token="hostile-test-token"):  # noqa: S107 - a test bearer value
    return gather(patient_id="pt-esi-1", settings=settings, fhir_server=server.base, access_token=token)


def test_endless_next_is_bounded_kept_and_marked_incomplete(hostile, fast):
    hostile.mode("endless_next", types=["Observation"])
    fast = replace(fast, fhir_deadline_s=6.0, fhir_read_timeout_s=3.0)  # a busy CI box must not time out
    record = _gather(hostile, fast)
    assert "Observation" in record.incomplete
    assert record.of("Observation"), "the pages that were read are kept"
    assert len([e for e in hostile.log() if e["path"] == "/fhir/Observation"]) == fast.fhir_max_pages
    assert "Condition" not in record.incomplete


@pytest.mark.parametrize("fault", ["drip", "oversize", "slow"])
def test_no_fhir_read_outlives_the_deadline(hostile, fast, fault, threads_started):
    """The reads run on the calling thread (cds_service/fhir/curl.py) and start no other: when the
    call returns, by its deadline, nothing of it is still reading from the server."""
    hostile.mode(fault, types=["Procedure"], delay=10)
    began = time.monotonic()
    record = _gather(hostile, fast)
    assert time.monotonic() - began < fast.fhir_deadline_s + 0.5
    assert "Procedure" in record.incomplete
    assert threads_started == []


@pytest.mark.parametrize("fault", ["wrong_type", "operation_outcome", "not_json_type", "malformed", "truncated"])
def test_unusable_answers_are_failed_queries(hostile, fast, fault):
    hostile.mode(fault, types=["Coverage"])
    record = _gather(hostile, fast)
    assert "Coverage" in record.incomplete and not record.coverages
    assert record.patient is not None and record.patient["id"] == "pt-esi-1"
