"""painpa on more than one host, as docs/deploy.md describes it and a platform team would try it:
PostgreSQL and Redis from Debian's packages, started here; three ``painpa serve`` instances (two
workers each), each with its own ``PAINPA_HOME`` and the same ``PAINPA_SECRET_KEY``, started at
once on a fresh database.

One test walks the whole go-live list, in order:
- the fresh database is migrated once, under the lock, by three concurrent starts (all come up, the
  schema is at head);
- every instance serves the same JWKS, and a SMART launch begun on one instance and completed on
  another reads its EHR token, sealed there, on a third (smart_app/keys.py);
- a JWT used on one instance is refused on every other, also after Redis restarted empty
  (cds_service/auth/replay.py: the jti record is the database's);
- under load on all instances, PostgreSQL stops and starts again: every answer is 200 or an honest
  503, every 200 has exactly one audit row with its request id, and the instances recover without
  a restart;
- docs/deploy.md's backup and restore (``pg_dump -Fc`` / ``pg_restore``) gives a database the same
  instances serve from, with the same keys.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections import Counter

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.support import jwt as tjwt
from tests.support.deployment import deployment
from tests.support.hook_requests import full_prefetch, hook_body
from tests.support.postgres import postgres_cluster
from tests.support.redis_server import redis_restartable

pytestmark = pytest.mark.postgres

ISS = "https://multi-instance-ehr.example/cds"
SIGN = "painpa-order-sign"
NAMES = ("a", "b", "c")


def _post(d, name: str, token: str, instance: str | None = None) -> requests.Response:
    body = hook_body(prefetch=full_prefetch())
    body["hookInstance"] = instance or str(uuid.uuid4())
    return requests.post(f"{d.urls[name]}/cds-services/{SIGN}", json=body, timeout=20,
                         headers={**tjwt.bearer(token), "X-Request-Id": f"req-{body['hookInstance']}"})


def _token(d, key) -> str:
    return tjwt.sign(key, ISS, f"{d.base}/cds-services/{SIGN}")   # every instance's aud is the public URL


def _audit_rows(url: str) -> Counter:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT hook_instance, request_id FROM cds_audit "
                                     "WHERE hook_instance IS NOT NULL")).all()
    finally:
        engine.dispose()
    assert all(r.request_id == f"req-{r.hook_instance}" for r in rows)
    return Counter(r.hook_instance for r in rows)


def _load_through_outage(d, pg, key, seconds: float = 6.0, outage_s: float = 2.0) -> tuple[Counter, list[str]]:
    statuses: Counter = Counter()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(name: str) -> None:
        while time.monotonic() < stop:
            instance = str(uuid.uuid4())
            try:
                resp = _post(d, name, _token(d, key), instance)
            except requests.RequestException:
                with lock:
                    statuses["cut off"] += 1
                continue
            with lock:
                statuses[resp.status_code] += 1
                if resp.status_code == 200:
                    acknowledged.append(instance)
                elif resp.status_code == 503:
                    assert resp.headers.get("Retry-After") and resp.headers.get("X-Request-Id")

    threads = [threading.Thread(target=client, args=(n,)) for n in NAMES for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    pg.stop("fast")
    time.sleep(outage_s)
    pg.start()
    for t in threads:
        t.join()
    return statuses, acknowledged


def _pg(pg, tool: str, *args: str) -> subprocess.CompletedProcess:
    done = pg._pg([f"{pg.bindir}/{tool}", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "painpa", *args], check=False)
    assert done.returncode == 0, done.stderr
    return done


def test_three_instances_on_postgresql_and_redis(tmp_path):
    key = tjwt.make_key("ES384")
    (tmp_path / "cds-jwks.json").write_text(json.dumps(tjwt.jwks(key)))
    with redis_restartable(tmp_path / "redis") as redis, postgres_cluster() as pg, \
            deployment(tmp_path, pg.url, env={"PAINPA_REDIS_URL": redis.url}, workers=2, register=False) as d:
        # 1. Three concurrent first starts on an empty database: one creates the schema under the lock.
        d.start(*NAMES)
        d.register_ehr()
        current = d.cli("db", "current")
        assert current.returncode == 0 and "(head" in current.stdout, current.stdout + current.stderr
        added = d.cli("clients", "add", "--iss", ISS, "--jwks-file", str(tmp_path / "cds-jwks.json"),
                      "--fhir-base", "https://e.example/fhir")
        assert added.returncode == 0, added.stderr

        # 2. One JWKS; a token sealed on one instance read on the others.
        jwks = {n: requests.get(d.urls[n] + "/.well-known/jwks.json", timeout=10).json() for n in NAMES}
        assert jwks["a"] == jwks["b"] == jwks["c"] and len(jwks["a"]["keys"]) == 1
        browser, done = d.launch(start="a", callback="b")
        assert done.status_code == 303, done.text
        assert browser.get(d.urls["c"] + done.headers["Location"], timeout=30).status_code == 200

        # 3. Replay refused across instances and across a Redis restart.
        token = _token(d, key)
        assert _post(d, "a", token).status_code == 200
        assert _post(d, "b", token).status_code == 401
        redis.stop()
        redis.start()
        assert _post(d, "c", token).status_code == 401
        assert _post(d, "c", _token(d, key)).status_code == 200   # a new token goes on working

        # 4. A database stop under load on all three instances.
        statuses, acknowledged = _load_through_outage(d, pg, key)
        rows = _audit_rows(pg.url)
        assert set(statuses) <= {200, 503}, statuses
        assert statuses[503] > 0 and statuses[200] > 0, statuses      # the outage was felt, and recovered
        assert all(rows[i] == 1 for i in acknowledged), [i for i in acknowledged if rows[i] != 1]
        recovered = {n: _post(d, n, _token(d, key)).status_code for n in NAMES}
        assert recovered == {n: 200 for n in NAMES}, recovered
        print(f"\nmulti-instance: 3 instances × 2 workers; outage under load {dict(statuses)}; "
              f"{len(acknowledged)} acknowledged, each audited once with its request id")

        # 5. Backup and restore as docs/deploy.md writes them; the restored database serves the same keys.
        dump = f"{pg.tmp}/painpa.dump"   # the tools run as the cluster's owner, who may write there
        _pg(pg, "pg_dump", "-Fc", "-d", "painpa", "-f", dump)
        _pg(pg, "createdb", "painpa_restored")
        _pg(pg, "pg_restore", "--no-owner", "-d", "painpa_restored", dump)
        restored = pg.url.rsplit("/", 1)[0] + "/painpa_restored"
        d.db_url = restored
        assert "(head" in d.cli("db", "current").stdout
        listed = d.cli("keys", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert {k["kid"] for k in json.loads(listed.stdout) if k["use"] == "signing"} == \
            {k["kid"] for k in jwks["a"]["keys"]}
        assert ISS in d.cli("clients", "list").stdout
