"""The SMART app's server-side state on PostgreSQL (several workers share it): single-use state and
browser binding hold there too (CC-58)."""

from __future__ import annotations

import time

import pytest

from cds_service.store.base import init_db
from smart_app import oauth
from smart_app.discovery import LaunchError
from smart_app.tables import SmartPendingLaunch, digest

pytestmark = pytest.mark.postgres


def test_cc58_state_is_single_use_and_browser_bound_on_postgres(postgres_url, settings):
    db = init_db(postgres_url)
    with db.session() as s:
        s.add(SmartPendingLaunch(state_digest=digest("st" * 20), browser_digest=digest("browser-a" * 3),
                                 iss="http://127.0.0.1:9/fhir", client_id="c", launch="l", code_verifier="v" * 50,
                                 redirect_uri="http://app/smart/callback", token_endpoint="http://127.0.0.1:9/token",
                                 auth_method="private_key_jwt", scope="launch", created=time.time()))
    with pytest.raises(LaunchError, match="another browser"):
        oauth.complete(db, settings, browser_id="browser-b" * 3, session_browser_id="s" * 32, state="st" * 20, code="x")
    with pytest.raises(LaunchError, match="could not be reached"):  # the state is used up here
        oauth.complete(db, settings, browser_id="browser-a" * 3, session_browser_id="s" * 32, state="st" * 20, code="x")
    with pytest.raises(LaunchError, match="reused"):
        oauth.complete(db, settings, browser_id="browser-a" * 3, session_browser_id="s" * 32, state="st" * 20, code="x")
    db.dispose()
