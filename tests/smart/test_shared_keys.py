"""painpa's own keys are one set for the deployment, kept in the database (smart_app/keys.py; SMART App
Launch 2.2 client-confidential-asymmetric, RFC 7517 JWKS, RFC 7523 private_key_jwt): ``painpa serve``
processes with their own PAINPA_HOME, one database and one PAINPA_SECRET_KEY publish one JWKS, sign
with its key and read the tokens any of them sealed, through a rotation; another secret key opens
nothing and says so; PAINPA_HOME keeps no key file.

Each launch begins on one instance and its callback is sent to the other, as a load balancer may:
the second signs the client assertion (the EHR checks it against the JWKS of the public URL,
instance ``a``) and seals the tokens, and the worklist is then read through either."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from cds_service import state
from cds_service.app import create_app
from cds_service.store.base import Database
from smart_app import keys
from tests.support.deployment import deployment, fresh_postgres_database, header_kid, new_secret


@pytest.fixture
def pair(tmp_path):
    with deployment(tmp_path) as d:
        d.start("a", "b")
        yield d


def _key_files(home) -> list[str]:
    return sorted(p.name for p in home.iterdir() if p.name.startswith("smart_"))


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_instances_publish_one_jwks_and_read_each_others_tokens(tmp_path, request, database):
    db_url = fresh_postgres_database(request.getfixturevalue("postgres_url")) if database == "postgresql" else None
    with deployment(tmp_path, db_url) as d:
        d.start("a", "b")
        jwks_a = requests.get(d.urls["a"] + "/.well-known/jwks.json", timeout=5).json()
        assert jwks_a == requests.get(d.urls["b"] + "/.well-known/jwks.json", timeout=5).json()
        assert len(jwks_a["keys"]) == 1 and jwks_a["keys"][0]["alg"] == "ES384"
        assert not {"d", "k", "p", "q"} & set(jwks_a["keys"][0])           # public members only
        assert _key_files(d.home("a")) == _key_files(d.home("b")) == []    # nothing in PAINPA_HOME

        browser, done = d.launch(start="a", callback="b")
        assert done.status_code == 303, done.text
        assert d.assertion_kid() == d.kids("a")[0]          # b signed with the key a publishes
        row = d.session_row(done.headers["Location"])
        current_seal = [k["kid"] for k in d.listed() if k["use"] == "seal" and k["state"] == "current"]
        assert header_kid(row.access_token) == header_kid(row.refresh_token) == current_seal[0]
        for name in ("a", "b"):                               # a unseals what b sealed
            assert browser.get(d.urls[name] + done.headers["Location"], timeout=30).status_code == 200
        db = Database(d.db_url)
        try:                                                  # and so does any third instance
            assert keys.unseal(db, d.settings(), row.access_token)[:8] in {r["token"] for r in d.ehr.log()["fhir"]}
        finally:
            db.dispose()


def test_rotate_keeps_the_old_kid_published_and_old_sessions_readable(pair):
    old_kid = pair.kids("a")[0]
    browser, first = pair.launch(start="a", callback="b")
    assert first.status_code == 303
    old_seal = header_kid(pair.session_row(first.headers["Location"]).access_token)

    rotated = pair.cli("keys", "rotate", "--publish-lead", "0")
    assert rotated.returncode == 0, rotated.stderr
    listed = pair.listed()
    new_kid = next(k["kid"] for k in listed if k["use"] == "signing" and k["state"] == "current")
    new_seal = next(k["kid"] for k in listed if k["use"] == "seal" and k["state"] == "current")
    assert {(k["kid"], k["state"]) for k in listed} == {
        (new_kid, "current"), (old_kid, "published"), (new_seal, "current"), (old_seal, "readable")}
    assert all(k["until"] for k in listed if k["kid"] in (old_kid, old_seal))   # published for the overlap
    assert not [k for k in listed if set(k) & {"d", "k", "private_jwe"}]
    pair.wait_for_kids([new_kid, old_kid])                    # both instances publish both

    for name in ("a", "b"):                                   # the session sealed before reads on
        assert browser.get(pair.urls[name] + first.headers["Location"], timeout=30).status_code == 200
    browser2, second = pair.launch(start="b", callback="a")
    assert second.status_code == 303 and pair.assertion_kid() == new_kid
    assert header_kid(pair.session_row(second.headers["Location"]).access_token) == new_seal
    assert browser2.get(pair.urls["b"] + second.headers["Location"], timeout=30).status_code == 200

    retired = pair.cli("keys", "rotate", "--retire-old")      # a key that may have leaked
    assert retired.returncode == 0, retired.stderr
    newest = next(k["kid"] for k in pair.listed() if k["use"] == "signing" and k["state"] == "current")
    pair.wait_for_kids([newest])
    for name in ("a", "b"):                                   # older sessions end with a clear page
        page = browser.get(pair.urls[name] + first.headers["Location"], timeout=30)
        assert page.status_code == 401 and "relaunch the app" in page.text
    _, third = pair.launch(start="a", callback="b")
    assert third.status_code == 303 and pair.assertion_kid() == newest
    assert "Traceback" not in pair.log("a") + pair.log("b")


def test_another_secret_key_opens_nothing_and_says_so(pair):
    """An instance given another PAINPA_SECRET_KEY refuses to start, naming the variable, and writes
    nothing; an app built in-process with it (keys made by another instance after it started) answers
    503 on the JWKS and the launch, never a 500."""
    kids = pair.kids("a")
    listed = pair.listed()
    (pair.home("c") / "smart_seal_key").parent.mkdir(parents=True, exist_ok=True)
    (pair.home("c") / "smart_seal_key").write_text("a key file of the previous release")
    other = new_secret()
    with pytest.raises(RuntimeError, match="exited with 2"):
        pair.start("c", secret=other)
    assert "PAINPA_SECRET_KEY" in pair.log("c") and "Traceback" not in pair.log("c")
    listing = pair.cli("keys", "list", name="c", secret=other)
    assert listing.returncode == 1 and "PAINPA_SECRET_KEY" in listing.stderr
    refused = pair.cli("keys", "rotate", name="c", secret=other)
    assert refused.returncode == 1 and "PAINPA_SECRET_KEY" in refused.stderr

    app = create_app(replace(pair.settings("c"), secret_key=other))
    try:
        jwks = app.test_client().get("/.well-known/jwks.json")
        assert jwks.status_code == 503 and "PAINPA_SECRET_KEY" in jwks.get_json()["error_description"]
        assert jwks.headers["Cache-Control"] == "no-store"
    finally:
        state.of(app).db.dispose()

    assert pair.listed() == listed and pair.kids("a") == kids  # c wrote nothing, imported nothing
    assert _key_files(pair.home("c")) == ["smart_seal_key"]
    _, ok = pair.launch(start="a", callback="b")              # the deployment itself is unharmed
    assert ok.status_code == 303
