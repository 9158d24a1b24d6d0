"""``painpa sandbox apps add | list | remove``: what a tester types, and the registrations it refuses
with a reason (SMART App Launch 2.2: fixed redirect URIs, public keys only, ``system/`` scopes only for
clients that authenticate with keys; painpa's own clients are not the tester's to replace)."""

from __future__ import annotations

import json

import pytest

from cds_service.cli import main
from cds_service.config import Settings
from cds_service.store.base import Database
from sandbox.setup import SMART_CLIENT_ID, upsert_client
from tests.sandbox.helpers import new_key


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINPA_HOME", str(tmp_path / "instance"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def apps(*args: str) -> int:
    return main(["sandbox", "apps", *args])


def test_add_list_remove(home, capsys):
    assert apps("add", "--client-id", "my-spa", "--redirect-uri", "http://localhost:3000/cb",
                "http://localhost:3000/cb2", "--public", "--scope", "launch/patient", "--scope", "patient/*.rs") == 0
    assert "my-spa (public app; grants authorization_code, refresh_token" in capsys.readouterr().out
    jwks = home / "jwks.json"
    jwks.write_text(json.dumps({"keys": [new_key().as_dict(private=False)]}))
    assert apps("add", "--client-id", "pas-client", "--jwks-file", str(jwks), "--scope", "system/Claim.cr") == 0
    capsys.readouterr()
    assert apps("list", "--json") == 0
    listed = {a["client_id"]: a for a in json.loads(capsys.readouterr().out)}
    assert listed["my-spa"]["redirect_uris"] == ["http://localhost:3000/cb", "http://localhost:3000/cb2"]
    assert listed["my-spa"]["scope"] == "launch/patient patient/*.rs" and listed["my-spa"]["auth_method"] == "none"
    assert listed["pas-client"]["kind"] == "backend services"
    assert listed["pas-client"]["grant_types"] == ["client_credentials"]
    assert apps("add", "--client-id", "other-spa", "--redirect-uri", "http://a/1", "--redirect-uri", "http://a/2",
                "--public", "--scope", "launch", "patient/*.rs") == 0
    capsys.readouterr()
    assert apps("list", "--json") == 0
    other = next(a for a in json.loads(capsys.readouterr().out) if a["client_id"] == "other-spa")
    assert other["redirect_uris"] == ["http://a/1", "http://a/2"] and other["scope"] == "launch patient/*.rs"
    assert apps("remove", "my-spa") == 0
    assert apps("remove", "my-spa") == 1
    capsys.readouterr()
    assert apps("list") == 0
    assert "my-spa" not in capsys.readouterr().out


def test_without_keys_or_public_an_app_gets_a_secret_shown_once(home, capsys):
    assert apps("add", "--client-id", "conf-app", "--redirect-uri", "http://localhost/cb") == 0
    out = capsys.readouterr().out
    secret = out.split("kept only as a digest): ")[1].strip()
    assert "confidential app (secret)" in out and len(secret) >= 40
    assert apps("list", "--json") == 0
    listed = capsys.readouterr().out
    assert secret not in listed and '"auth_method": "client_secret_basic"' in listed


@pytest.mark.parametrize(("args", "reason"), [
    (["--redirect-uri", "http://localhost/cb#frag", "--public"], "without a fragment"),
    (["--redirect-uri", "/relative", "--public"], "absolute http(s) URL"),
    (["--redirect-uri", "http://localhost/cb", "--public", "--scope", "system/Claim.cr"], "system/ scopes are for"),
    (["--redirect-uri", "http://localhost/cb", "--public", "--scope", "patient/Condition.bogus"], "not SMART scopes"),
    (["--jwks-url", "https://keys.example/jwks.json"], "nothing to use"),
])
def test_refusals_say_why(home, capsys, args, reason):
    assert apps("add", "--client-id", "x", *args) == 2
    assert reason in capsys.readouterr().err


def test_private_keys_and_painpas_own_clients_are_refused(home, capsys):
    private = home / "private.json"
    private.write_text(json.dumps({"keys": [new_key().as_dict(private=True)]}))
    assert apps("add", "--client-id", "k", "--jwks-file", str(private), "--scope", "system/Claim.cr") == 2
    assert "private key material" in capsys.readouterr().err
    assert apps("add", "--client-id", "k", "--jwks-file", str(home / "missing.json"), "--scope", "system/Claim.cr") == 2
    assert "cannot read the JWK Set" in capsys.readouterr().err

    db = Database(Settings.from_env(sandbox=True).database_url)
    db.create_all()
    upsert_client(db, SMART_CLIENT_ID, name="painpa", auth_method="private_key_jwt", redirect_uris=["http://x/cb"],
                  jwks_uri="http://x/jwks", jwks=None, scope="")
    db.dispose()
    assert apps("add", "--client-id", SMART_CLIENT_ID, "--redirect-uri", "http://evil/cb", "--public") == 2
    assert "painpa's own client" in capsys.readouterr().err
    assert apps("remove", SMART_CLIENT_ID) == 2
