"""A pended PAS decision when painpa cannot get the payer's backend-services token for the
subscription (SMART App Launch 2.2 backend-services.md; the payer's token endpoint stopped answering
after the submit): the decision already received is kept and followed by ``$inquire`` polling (PAS
2.2.1 §"Pended authorizations"), instead of the submit failing and the decision being lost."""

from __future__ import annotations

import pytest

from cds_service import clients, state
from cds_service.app import create_app
from smart_app import backend, pas, pas_watch
from smart_app.discovery import LaunchError

PAYER = "https://payer.example.org/fhir"


@pytest.fixture
def app(settings):
    app = create_app(settings)
    clients.add_client(state.of(app).db, iss="https://payer.example.org", jwks_url="https://payer.example.org/jwks",
                       fhir_bases=[PAYER], smart_client_id="painpa")
    yield app
    state.of(app).db.dispose()


def test_no_payer_token_for_the_subscription_means_polling(app, monkeypatch):
    asked = []

    def token_endpoint_down(db, settings, base):
        asked.append(base)
        raise LaunchError("The payer's token endpoint did not answer; nothing was sent to the payer.", 502)

    monkeypatch.setattr(backend, "payer_headers", token_endpoint_down)
    pended = {"resourceType": "ClaimResponse", "outcome": "queued",
              "identifier": [{"system": pas.TRACE_SYSTEM, "value": "trace-1"}]}
    with app.test_request_context():
        followed = pas_watch.watcher("session-key")(pended, PAYER)
    assert asked == [PAYER]                                   # it did try to subscribe, with a token
    assert pas_watch._watch_of(followed) == {"payer": PAYER, "mode": "polling"}
    assert followed["identifier"] == pended["identifier"]     # the decision itself is kept as received
