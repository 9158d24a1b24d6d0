"""appContext handles (CDS Hooks 2.0 §Link; DTR FHIR-37270; standards.md §8.11): opaque, single-use,
expiring, never carrying a token."""

from __future__ import annotations

import threading

import pytest

from cds_service import applinks
from cds_service.store import init_db


@pytest.fixture
def db(settings):
    settings.home.mkdir(parents=True, exist_ok=True)
    database = init_db(settings.database_url)
    yield database
    database.dispose()


PAYLOAD = {"patient": "pt-1", "orders": ["ServiceRequest/sr-1"], "hookInstance": "h-1",
           "fhirServer": "https://ehr.example.org/fhir", "iss": "https://ehr.example.org"}


def test_handle_is_opaque_and_redeems_once(db):
    handle = applinks.issue(db, PAYLOAD, 60)
    assert len(handle) >= 22 and "pt-1" not in handle
    assert applinks.redeem(db, handle) == PAYLOAD
    assert applinks.redeem(db, handle) is None


def test_expired_and_unknown_handles_redeem_to_none(db):
    handle = applinks.issue(db, PAYLOAD, -1)
    assert applinks.redeem(db, handle) is None
    assert applinks.redeem(db, "x" * 32) is None
    assert applinks.redeem(db, "short") is None


def test_payload_with_a_token_is_refused(db):
    with pytest.raises(ValueError):
        applinks.issue(db, {**PAYLOAD, "access_token": "abc"}, 60)


def test_concurrent_redemption_has_one_winner(db):
    handle = applinks.issue(db, PAYLOAD, 60)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(applinks.redeem(db, handle))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1


def test_redeemed_and_expired_handles_are_purged(db):
    used = applinks.issue(db, PAYLOAD, 60)
    applinks.redeem(db, used)
    applinks.issue(db, PAYLOAD, -1)
    live = applinks.issue(db, PAYLOAD, 60)
    assert applinks.purge(db) == 2
    assert applinks.redeem(db, live) == PAYLOAD


@pytest.mark.postgres
def test_single_use_on_postgresql(postgres_url):
    database = init_db(postgres_url)
    try:
        handle = applinks.issue(database, PAYLOAD, 60)
        assert applinks.redeem(database, handle) == PAYLOAD
        assert applinks.redeem(database, handle) is None
    finally:
        database.dispose()
