"""Outages of the servers painpa depends on, with ``painpa serve`` (2 gunicorn workers) under load as
real processes (docs/security.md §2.1 replay, §2.3 limits, §2.7 crash safety).

PostgreSQL stopped and started again under load. While clients post hook calls (full prefetch, so
no FHIR server is involved) and feedback (CDS Hooks 2.0 §Feedback), the cluster is shut down for a
few seconds and started again on the same port. Each call must get an honest answer: 200, or 503
with ``Retry-After`` and an OperationOutcome of code ``transient`` (cds_service/http_errors.py),
never another 5xx, and quickly (a clinician is waiting). ``/readyz`` says 503 while the database is
down. Nothing acknowledged is lost: every hook call answered 200 has exactly one audit row (CRD 2.2
found-37 "keep logs of all CRD invocations"; the audit fails closed, so a call whose row cannot be
written is answered 503, never 200 without its row) and every feedback item answered 200 is stored
exactly once, also when the EHR re-posts an item whose earlier attempt failed. The same workers
answer 200 again once PostgreSQL is back, with no restart of painpa.

Redis configured and stopped. Redis holds only the rate-limit counters and caches; the ``jti``
record is always in the database (docs/security.md §2.1), so a replay is refused while Redis is
down and after a restart that emptied it. The rate limit falls back to counting in the database
(docs/security.md §2.3): the budget still holds, never unlimited while the database works.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import psutil
import pytest
import requests
from sqlalchemy import create_engine, func, make_url, select, text

from cds_service.security.ratelimit import WINDOW_S, counter_key
from cds_service.store.tables import AuditEvent, Feedback
from tests.support import jwt as tjwt
from tests.support.hook_requests import full_prefetch, hook_body
from tests.support.postgres import postgres_cluster
from tests.support.redis_server import redis_restartable
from tests.support.serve_harness import ISS, SIGN, painpa_service

FHIR_BASES = ["https://e.example/fhir"]
CLIENT_TIMEOUT_S = 30.0      # a client gives up after this; any answer later than the bounds below fails anyway
WORST_OUTAGE_ANSWER_S = 3.0  # a call made while PostgreSQL is down is answered 503 within this
RATE_LIMIT = 30              # PAINPA_RATE_LIMIT of the Redis test, calls per minute
RECOVERY_BOUND_S = 15.0      # PostgreSQL accepting connections again → the first hook and feedback 200s
AUDIT_INSTANCE = AuditEvent.__table__.c.hook_instance
FEEDBACK_CARD = Feedback.__table__.c.card


# --------------------------------------------------------------------------------------------------
# Calls and their record


@dataclass
class Call:
    kind: str          # "hook" or "feedback"
    ident: str         # hookInstance, or the feedback card uuid
    started: float     # time.monotonic()
    ended: float
    status: int | None  # None: no HTTP answer (connection error or client timeout)
    retry_after: str | None = None
    issue_code: str | None = None
    content_type: str = ""

    @property
    def latency(self) -> float:
        return self.ended - self.started


def _feedback_body(card: str) -> dict:
    return {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-29T10:00:00Z",
                          "overrideReason": {"userComment": "outage test"}}]}


def _hook_body(instance: str) -> dict:
    body = hook_body(prefetch=full_prefetch())
    body["hookInstance"] = instance
    return body


def _call(svc, kind: str, ident: str) -> Call:
    started = time.monotonic()
    try:
        if kind == "feedback":
            resp = svc.post(SIGN, _feedback_body(ident), suffix="/feedback", timeout=CLIENT_TIMEOUT_S)
        else:
            resp = svc.post(SIGN, _hook_body(ident), timeout=CLIENT_TIMEOUT_S)
    except requests.RequestException:
        return Call(kind, ident, started, time.monotonic(), None)
    ended = time.monotonic()
    call = Call(kind, ident, started, ended, resp.status_code, resp.headers.get("Retry-After"),
                content_type=resp.headers.get("Content-Type", ""))
    if resp.status_code >= 400:
        try:
            call.issue_code = resp.json()["issue"][0]["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            call.issue_code = None
    return call


@dataclass
class Load:
    """Client threads posting hook calls (a fresh hookInstance each) and feedback. A feedback client
    re-posts the same item until it is answered 200 (what an EHR does after a 503 or a dropped
    connection), then moves on to a new card."""

    svc: object
    hook_clients: int = 4
    feedback_clients: int = 4
    calls: list[Call] = field(default_factory=list)
    readyz: list[tuple[float, float, int | None]] = field(default_factory=list)   # (started, ended, status)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _keep(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _hooks(self) -> None:
        while not self._stop.is_set():
            self._keep(_call(self.svc, "hook", str(uuid.uuid4())))

    def _feedback(self) -> None:
        card = str(uuid.uuid4())
        while not self._stop.is_set():
            call = _call(self.svc, "feedback", card)
            self._keep(call)
            if call.status == 200:
                card = str(uuid.uuid4())
            else:
                time.sleep(0.1)  # then the same item again

    def _probe(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status = requests.get(f"{self.svc.base}/readyz", timeout=CLIENT_TIMEOUT_S).status_code
            except requests.RequestException:
                status = None
            with self._lock:
                self.readyz.append((started, time.monotonic(), status))
            time.sleep(0.1)

    def __enter__(self) -> Load:
        targets = [self._hooks] * self.hook_clients + [self._feedback] * self.feedback_clients + [self._probe]
        self._threads = [threading.Thread(target=t, daemon=True) for t in targets]
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=CLIENT_TIMEOUT_S + 5)

    def first_200_after(self, kind: str, since: float) -> float | None:
        with self._lock:
            ends = [c.ended for c in self.calls if c.kind == kind and c.status == 200 and c.started >= since]
        return min(ends) if ends else None


WORKERS = 2   # painpa_service's default


def _workers(svc, timeout: float = 30.0) -> set[int]:
    """The gunicorn workers' pids, once all of them are up: /healthz answers as soon as the first
    one is, and a snapshot taken then would miss the second."""
    deadline = time.monotonic() + timeout
    while True:
        pids = {p.pid for p in psutil.Process(svc.pid).children()}
        if len(pids) >= WORKERS or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


def _row_counts(url: str, column, idents: set[str]) -> Counter:
    """Rows per value of ``column`` (a table column) among ``idents``: counted, so a duplicate shows
    as 2 and a lost row as 0."""
    engine = create_engine(url)
    counts: Counter = Counter()
    try:
        with engine.connect() as conn:
            ids = sorted(idents)
            for i in range(0, len(ids), 1000):
                stmt = select(column, func.count()).where(column.in_(ids[i:i + 1000])).group_by(column)
                counts.update(dict(conn.execute(stmt).all()))
    finally:
        engine.dispose()
    return counts


def _assert_honest_503(call: Call) -> None:
    assert call.retry_after is not None and call.retry_after.isdigit() and int(call.retry_after) >= 1, call
    assert call.content_type.startswith("application/fhir+json"), call
    assert call.issue_code == "transient", call


# --------------------------------------------------------------------------------------------------
# PostgreSQL stopped and started again under load


@dataclass
class Outage:
    down_from: float   # the server was stopped (pg_ctl stop returned) ...
    down_to: float     # ... until this instant (pg_ctl start called)
    up_at: float       # pg_ctl start returned: connections are accepted again
    mode: str


def _postgres_outages(tmp_path, *, cycles: int, down_s: float, up_s: float, modes: tuple[str, ...],
                      label: str) -> None:
    with postgres_cluster() as pg, painpa_service(FHIR_BASES, home=tmp_path / label, database_url=pg.url,
                                                  env={"PAINPA_RATE_LIMIT": "0"}) as svc:
        workers_before = _workers(svc)
        outages: list[Outage] = []
        recoveries: list[float] = []
        with Load(svc) as load:
            time.sleep(up_s)
            for i in range(cycles):
                mode = modes[i % len(modes)]
                pg.stop(mode)
                down_from = time.monotonic()
                time.sleep(down_s)
                down_to = time.monotonic()
                pg.start()
                up_at = time.monotonic()
                outages.append(Outage(down_from, down_to, up_at, mode))
                deadline = up_at + RECOVERY_BOUND_S
                while time.monotonic() < deadline:
                    hook_ok, fb_ok = load.first_200_after("hook", up_at), load.first_200_after("feedback", up_at)
                    if hook_ok is not None and fb_ok is not None:
                        recoveries.append(max(hook_ok, fb_ok) - up_at)
                        break
                    time.sleep(0.05)
                else:
                    pytest.fail(f"no hook and feedback call answered 200 within {RECOVERY_BOUND_S} s of "
                                f"PostgreSQL accepting connections again (outage {i + 1}, {mode})")
                time.sleep(up_s)
        ready_after = requests.get(f"{svc.base}/readyz", timeout=10).status_code
        workers_after = _workers(svc)
        master_alive = psutil.pid_exists(svc.pid)
        calls, probes = load.calls, load.readyz
        acked_hooks = [c.ident for c in calls if c.kind == "hook" and c.status == 200]
        acked_cards = [c.ident for c in calls if c.kind == "feedback" and c.status == 200]
        audit_rows = _row_counts(pg.url, AUDIT_INSTANCE, set(acked_hooks))
        feedback_rows = _row_counts(pg.url, FEEDBACK_CARD, set(acked_cards))
        all_cards = {c.ident for c in calls if c.kind == "feedback"}
        all_feedback_rows = _row_counts(pg.url, FEEDBACK_CARD, all_cards)

    def inside(t0: float, t1: float) -> bool:
        return any(o.down_from <= t0 and t1 <= o.down_to for o in outages)

    statuses = Counter(c.status for c in calls)
    during = [c for c in calls if inside(c.started, c.ended)]
    answers_503 = [c for c in calls if c.status == 503]
    worst_during = max((c.latency for c in during), default=0.0)
    worst_503 = max((c.latency for c in answers_503), default=0.0)
    reposts = sum(1 for c in calls if c.kind == "feedback") - len(all_cards)
    probes_during = [s for t0, t1, s in probes if inside(t0, t1)]
    print(f"\npostgres outage [{label}]: {len(outages)} stops ({', '.join(o.mode for o in outages)}) of "
          f"{down_s:.0f} s under load; {len(calls)} calls: {statuses[200]} answered 200, {statuses[503]} 503, "
          f"other {dict((k, v) for k, v in statuses.items() if k not in (200, 503))}; {len(during)} calls made "
          f"wholly during an outage, worst latency {worst_during * 1000:.0f} ms (worst 503 overall "
          f"{worst_503 * 1000:.0f} ms); time to recover (first hook and feedback 200 after PostgreSQL "
          f"accepts connections) {', '.join(f'{r:.2f} s' for r in recoveries)}; acknowledged {len(acked_hooks)} "
          f"hook calls ({sum(audit_rows.values())} audit rows) and {len(acked_cards)} feedback items "
          f"({sum(feedback_rows.values())} rows; {reposts} re-posts of an item after a 503); /readyz during "
          f"outages {dict(Counter(probes_during))}, after {ready_after}")

    # The outage was seen, and answered honestly: 200 or 503, nothing else, no dropped connection.
    assert during and answers_503, "the outage produced no 503: the test did not test anything"
    assert set(statuses) <= {200, 503}, statuses
    for call in answers_503:
        _assert_honest_503(call)
    assert all(c.status == 503 for c in during), Counter(c.status for c in during)
    assert worst_during < WORST_OUTAGE_ANSWER_S, f"worst answer during the outage {worst_during:.2f} s"
    # /readyz: 503 while the database is down, 200 once it is back.
    assert probes_during and set(probes_during) == {503}, Counter(probes_during)
    assert ready_after == 200
    # Recovered without a restart: the same master and the same workers answered throughout.
    assert master_alive and workers_after == workers_before, (workers_before, workers_after)
    assert len(recoveries) == cycles
    # Nothing acknowledged is lost, nothing is stored twice.
    assert acked_hooks and acked_cards
    assert len(set(acked_hooks)) == len(acked_hooks) and len(set(acked_cards)) == len(acked_cards)
    missing_audit = [h for h in acked_hooks if audit_rows[h] != 1]
    assert not missing_audit, f"{len(missing_audit)} acknowledged hook calls without exactly one audit row: " \
                              f"{[(h, audit_rows[h]) for h in missing_audit[:5]]}"
    wrong_feedback = [c for c in acked_cards if feedback_rows[c] != 1]
    assert not wrong_feedback, f"{len(wrong_feedback)} acknowledged feedback items not stored exactly once: " \
                               f"{[(c, feedback_rows[c]) for c in wrong_feedback[:5]]}"
    assert max(all_feedback_rows.values(), default=0) <= 1, "a feedback item stored twice"


@pytest.mark.postgres
def test_postgresql_stopped_and_restarted_under_load(tmp_path):
    """One fast shutdown of 3 s under load: honest 503s quickly, /readyz 503 then 200, every
    acknowledged hook call audited once and feedback item stored once, recovery with no restart."""
    _postgres_outages(tmp_path, cycles=1, down_s=3.0, up_s=2.0, modes=("fast",), label="pg-outage")


@pytest.mark.slow
@pytest.mark.postgres
def test_soak_postgresql_stopped_and_restarted_under_load(tmp_path):
    """Six outages of 5 s, alternating a fast shutdown and an immediate one (as a crash of the
    server: crash recovery runs at the next start, and every acknowledged commit must survive it)."""
    _postgres_outages(tmp_path, cycles=6, down_s=5.0, up_s=5.0, modes=("fast", "immediate"), label="pg-soak")


# --------------------------------------------------------------------------------------------------
# The audit fails closed


@pytest.mark.postgres
def test_hook_call_whose_audit_row_cannot_be_written_is_503(tmp_path, postgres_url):
    """CRD found-37 audit, docs/security.md §2.7: the answer is computed, but its audit row cannot be
    written (a trigger refuses the insert as a full disk would, SQLSTATE 53100): the call is answered
    503 + Retry-After + ``transient``, never 200 without its row. The jti was spent (the call was
    authenticated), so the EHR retries with a new JWT, which is answered 200 and audited once the
    table takes rows again."""
    name = f"painpa_audit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with painpa_service(FHIR_BASES, home=tmp_path / "audit", database_url=url,
                            env={"PAINPA_RATE_LIMIT": "0"}) as svc:
            with engine.connect() as conn:
                conn.execute(text("CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                                  "BEGIN RAISE EXCEPTION 'no space for the audit row' USING ERRCODE = '53100'; "
                                  "END $$"))
                conn.execute(text("CREATE TRIGGER refuse_audit BEFORE INSERT ON cds_audit "
                                  "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"))
            refused = _call(svc, "hook", str(uuid.uuid4()))
            with engine.connect() as conn:
                conn.execute(text("DROP TRIGGER refuse_audit ON cds_audit"))
            retried = _call(svc, "hook", str(uuid.uuid4()))
        counts = _row_counts(url, AUDIT_INSTANCE, {refused.ident, retried.ident})
        with engine.connect() as conn:
            jtis = conn.execute(text("SELECT count(*) FROM cds_seen_jti")).scalar_one()
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"\naudit fails closed: audit insert refused → {refused.status} in {refused.latency * 1000:.0f} ms "
          f"(Retry-After {refused.retry_after}, {refused.issue_code}); retried → {retried.status}; audit rows "
          f"{counts[refused.ident]} + {counts[retried.ident]}; jti records {jtis}")
    assert refused.status == 503, refused
    _assert_honest_503(refused)
    assert counts[refused.ident] == 0
    assert retried.status == 200 and counts[retried.ident] == 1
    assert jtis == 2  # the refused call was authenticated: its JWT cannot be replayed


# --------------------------------------------------------------------------------------------------
# Redis configured and stopped


def _signed(svc) -> str:
    return tjwt.sign(svc.key, ISS, svc.url(SIGN))


def _post_hook(svc, token: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    resp = svc.post(SIGN, _hook_body(str(uuid.uuid4())), token=token, timeout=CLIENT_TIMEOUT_S)
    return resp, time.monotonic() - started


def _redis_keys(server, namespace: str) -> list[bytes]:
    client = server.client()
    try:
        return list(client.scan_iter(match=f"painpa:{namespace}:*"))
    finally:
        client.close()


def _jti_recorded(db_url: str, token: str) -> bool:
    jti = _jti_of(token)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM cds_seen_jti WHERE jti = :j"), {"j": jti}).scalar_one() == 1
    finally:
        engine.dispose()


def _jti_of(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def _db_count(db_url: str, window: int) -> int | None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count FROM sec_rate_counters WHERE key = :k"),
                                {"k": counter_key(ISS, window)}).scalar()
    finally:
        engine.dispose()



def test_redis_stopped_replay_refused_and_rate_limit_counted_in_database(tmp_path):
    """docs/security.md §2.1 and §2.3 with ``PAINPA_REDIS_URL`` set and Redis stopped, then started
    again empty (no persistence):

    - a JWT used while Redis was up, replayed while it is down → 401; one first used while it is down,
      replayed → 401; both replayed after Redis restarted empty → 401 (the jti record is in the
      database, never in Redis, which holds no ``painpa:jti:*`` key);
    - new calls while Redis is down answer 200 (the caches are optional) and the rate limit counts in
      the database instead: exactly ``PAINPA_RATE_LIMIT`` calls of the window pass, the next ones are
      429 + Retry-After + ``throttled`` (never unlimited while the database works);
    - once Redis is back, the counters go to Redis again without a restart of painpa.
    """
    with redis_restartable(tmp_path / "redis-data") as redis, painpa_service(
            FHIR_BASES, home=tmp_path / "redis", env={"PAINPA_REDIS_URL": redis.url,
                                                      "PAINPA_RATE_LIMIT": str(RATE_LIMIT)}) as svc:
        db_url = f"sqlite:///{svc.home / 'painpa.db'}"
        # Leave room for the whole Redis-down phase inside one fixed window of the rate limit.
        left = WINDOW_S - time.time() % WINDOW_S
        if left < 15:
            time.sleep(left + 0.2)
        window = int(time.time() // WINDOW_S)
        before = _signed(svc)
        first, _ = _post_hook(svc, before)
        assert first.status_code == 200, first.text
        rate_keys_up = _redis_keys(redis, "rate")
        jti_keys_up = _redis_keys(redis, "jti")

        redis.stop()
        replay_down, replay_down_s = _post_hook(svc, before)
        during = _signed(svc)
        fresh_down, fresh_down_s = _post_hook(svc, during)
        replay_during, _ = _post_hook(svc, during)
        statuses: list[int] = [fresh_down.status_code]
        latencies = [replay_down_s, fresh_down_s]
        throttled: requests.Response | None = None
        for _ in range(2 * RATE_LIMIT):
            resp, took = _post_hook(svc, _signed(svc))
            statuses.append(resp.status_code)
            latencies.append(took)
            if resp.status_code == 429:
                throttled = throttled or resp
                if statuses.count(429) >= 3:
                    break
        same_window = int(time.time() // WINDOW_S) == window
        counted_in_db = _db_count(db_url, window)

        redis.start()
        replay_before_after, _ = _post_hook(svc, before)
        replay_during_after, _ = _post_hook(svc, during)
        # Each worker skips Redis for a few seconds after a failure (cds_service/shared/cache.py);
        # then its counters go to the restarted Redis.
        back: list[int] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not _redis_keys(redis, "rate"):
            back.append(_post_hook(svc, _signed(svc))[0].status_code)
            time.sleep(0.25)
        rate_keys_back = _redis_keys(redis, "rate")
        jti_keys_back = _redis_keys(redis, "jti")
        recorded = _jti_recorded(db_url, before) and _jti_recorded(db_url, during)

    passed = statuses.index(429) if 429 in statuses else len(statuses)
    print(f"\nredis outage: budget {RATE_LIMIT}/min; Redis up: 1 call 200, Redis keys rate={len(rate_keys_up)} "
          f"jti={len(jti_keys_up)}; Redis down: replay of a pre-outage JWT → {replay_down.status_code}, replay of "
          f"one used during → {replay_during.status_code}, {len(statuses)} new calls: {passed} answered 200 before "
          f"the first 429 ({dict(Counter(statuses))}), database counter {counted_in_db}, worst latency "
          f"{max(latencies) * 1000:.0f} ms; Redis restarted empty: replays → {replay_before_after.status_code}, "
          f"{replay_during_after.status_code}; {len(back)} calls until counters reached Redis again "
          f"({dict(Counter(back))}), jti keys in Redis {len(jti_keys_back)}")

    # Replays refused while Redis is down and after it restarted empty: the jti is in the database.
    assert replay_down.status_code == 401 and replay_during.status_code == 401
    assert replay_before_after.status_code == 401 and replay_during_after.status_code == 401
    assert recorded, "the jti records are not in the database"
    # Redis was really in use before the stop (else the fallback was never exercised), never for jti.
    assert rate_keys_up and not jti_keys_up and not jti_keys_back
    # New calls answered while Redis is down, and quickly (no connect timeout per call).
    assert fresh_down.status_code == 200, fresh_down.text
    assert set(statuses) <= {200, 429}, Counter(statuses)
    assert max(latencies) < 2.0, f"worst latency with Redis down {max(latencies):.2f} s"
    # The budget holds, counted in the database: the first call with Redis up was counted in Redis.
    assert throttled is not None, f"no 429 in {len(statuses)} calls over a budget of {RATE_LIMIT}: unlimited"
    assert throttled.headers["Retry-After"].isdigit() and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["issue"][0]["code"] == "throttled"
    assert all(s == 429 for s in statuses[passed:]), statuses
    if same_window:
        assert passed == RATE_LIMIT, statuses
        assert counted_in_db is not None and counted_in_db >= RATE_LIMIT + 3
    else:  # the window ended during the phase (a slow host): at most one fresh budget more
        assert passed <= 2 * RATE_LIMIT
    # Counters reach Redis again with no restart of painpa.
    assert rate_keys_back, f"no rate counter in the restarted Redis after {len(back)} calls"
