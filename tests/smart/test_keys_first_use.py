"""The first use of painpa's keys (smart_app/keys.py; RFC 7517 JWK, SMART App Launch 2.2
client-confidential-asymmetric): processes starting at once on an empty database agree on one key
set, and the key files of the previous release in PAINPA_HOME are imported (the deployment keeps its
kid and its sealed tokens) and removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from cds_service.config import Settings
from cds_service.store.base import Database, init_db
from smart_app import keys
from smart_app.tables import SmartKey
from tests.support.deployment import deployment, fresh_postgres_database, new_secret, old_release_files
from tests.support.procs import ROOT

FIRST_USE = """
import json, sys, time
from pathlib import Path
from cds_service.config import Settings
from cds_service.store.base import Database
from smart_app import keys
settings = Settings.from_env()
db = Database(settings.database_url)
Path(sys.argv[1] + "." + sys.argv[2]).touch()   # ready: everything imported
while not Path(sys.argv[1]).exists():
    time.sleep(0.002)
print(json.dumps([keys.public_jwks(db, settings)["keys"][0]["kid"], keys.seal(db, settings, "token")]))
"""


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_processes_starting_together_make_one_key_set(tmp_path, request, database):
    url = (fresh_postgres_database(request.getfixturevalue("postgres_url")) if database == "postgresql"
           else f"sqlite:///{tmp_path / 'shared.db'}")
    init_db(url).dispose()                     # the tables exist, as after `painpa serve` created them
    secret, go = new_secret(), tmp_path / "go"
    procs = []
    for n in range(4):                         # four instances on as many hosts: one PAINPA_HOME each
        env = {**os.environ, "DATABASE_URL": url, "PAINPA_SECRET_KEY": secret, "PAINPA_HOME": str(tmp_path / f"h{n}")}
        procs.append(subprocess.Popen([sys.executable, "-c", FIRST_USE, str(go), str(n)], env=env, cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.*"))) < len(procs):   # all waiting at the line, then all go at once
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len({kid for kid, _ in results}) == 1
    db = Database(url)
    try:
        with db.session() as s:
            rows = s.scalars(select(SmartKey)).all()
            assert sorted((r.key_use, r.generation) for r in rows) == [("enc", 1), ("sig", 1)]
        settings = Settings.from_env(env={"DATABASE_URL": url, "PAINPA_SECRET_KEY": secret}, home=tmp_path / "reader")
        assert {keys.unseal(db, settings, sealed) for _, sealed in results} == {"token"}
    finally:
        db.dispose()


def test_the_previous_release_key_files_are_imported_then_removed(tmp_path):
    with deployment(tmp_path) as d:
        kid_a, sealed_a = old_release_files(d.home("a"), "token-sealed-on-a-before-the-upgrade")
        kid_b, sealed_b = old_release_files(d.home("b"), "token-sealed-on-b-before-the-upgrade")
        d.start("a")
        assert d.kids("a") == [kid_a]                          # the deployment keeps its kid
        assert not list(d.home("a").glob("smart_*"))           # and PAINPA_HOME no key file
        listed = d.listed()
        assert [(k["use"], k["state"], k["origin"]) for k in listed] == [
            ("signing", "current", "imported"), ("seal", "current", "imported")]

        d.start("b")                                           # each host had its own files
        assert d.kids("b") == [kid_a, kid_b]                   # b's old kid stays published for the overlap
        d.wait_for_kids([kid_a, kid_b])
        assert not list(d.home("b").glob("smart_*"))
        _, done = d.launch(start="b", callback="b")
        assert done.status_code == 303 and d.assertion_kid() == kid_a

        db = Database(d.db_url)
        try:                                                   # tokens sealed by either before the upgrade read on
            assert keys.unseal(db, d.settings(), sealed_a) == "token-sealed-on-a-before-the-upgrade"
            assert keys.unseal(db, d.settings(), sealed_b) == "token-sealed-on-b-before-the-upgrade"
        finally:
            db.dispose()
