"""Dashboard sign-in throttling (cds_service/admin/throttle.py; OWASP Authentication Cheat Sheet
"Login throttling", NIST SP 800-63B §5.2.2): failures per (user name, address) pair, per client
address and per user name from all addresses, 429 with Retry-After and no scrypt check once a budget
is spent, the same answers for unknown users, no lockout of an admin from one other address, counts
shared by every app instance on one database (SQLite file and PostgreSQL), an injected clock."""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import replace

import pytest

from cds_service import state
from cds_service.admin import auth, throttle
from cds_service.admin.auth import create_user
from cds_service.app import create_app
from cds_service.config import ConfigError, Settings
from tests.support import admin_forms

PASSWORD = "correct horse battery staple"
WRONG = "wrong password!"
WINDOW = 900


class Clock:
    """Injected as the app state's ``clock``. Starts 60 s into the next real window, so the
    counter rows' expiry lies in the future (the shared purge of expired rows uses the real clock)."""

    def __init__(self) -> None:
        self.t = (math.floor(time.time() / WINDOW) + 1) * WINDOW + 60.0

    def __call__(self) -> float:
        return self.t


def make_app(settings, clock: Clock, user: str = "admin"):
    app = create_app(settings)
    state.install(app, replace(state.of(app), clock=clock))
    if user:
        create_user(state.of(app).db, user, PASSWORD)
    return app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings, clock):
    app = make_app(settings, clock)
    yield app
    state.of(app).db.dispose()


@pytest.fixture
def scrypt_checks(monkeypatch) -> list[str]:
    """Every password hash check the sign-in runs (the CPU cost being protected)."""
    calls: list[str] = []
    real = auth.check_password_hash

    def counting(stored: str, password: str) -> bool:
        calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(auth, "check_password_hash", counting)
    return calls


def client_from(app, address: str = "203.0.113.7"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_in(client, username: str = "admin", password: str = WRONG, headers=None):
    return admin_forms.sign_in(client, username, password, headers=headers)


def test_after_five_failures_even_the_right_password_gets_429_without_a_password_check(app, clock, scrypt_checks):
    client = client_from(app)
    assert [sign_in(client).status_code for _ in range(5)] == [401] * 5
    assert len(scrypt_checks) == 5
    resp = sign_in(client, password=PASSWORD)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == str(WINDOW - 60)  # the window ends 840 s after the clock
    assert "Sign-in is paused for 14 minutes" in resp.get_data(as_text=True)
    assert len(scrypt_checks) == 5, "a throttled attempt must not run scrypt"
    assert client.get("/admin/").status_code == 302  # not signed in


def test_unknown_user_is_throttled_with_the_same_answers(app, scrypt_checks):
    known, unknown = client_from(app, "203.0.113.7"), client_from(app, "203.0.113.8")
    a = [sign_in(known, "admin") for _ in range(7)]
    b = [sign_in(unknown, "ghost") for _ in range(7)]
    assert [r.status_code for r in a] == [r.status_code for r in b] == [401] * 5 + [429] * 2
    # the same page but for each browser's own login-CSRF token
    assert [admin_forms.without_token(r) for r in a] == [admin_forms.without_token(r) for r in b]
    assert [r.headers.get("Retry-After") for r in a] == [r.headers.get("Retry-After") for r in b]
    assert len(scrypt_checks) == 10


def test_user_name_variants_share_one_budget(app):
    client = client_from(app)
    for name in ("admin", "Admin", " ADMIN", "admin ", "aDmin"):
        assert sign_in(client, name).status_code == 401
    assert sign_in(client, "admin", PASSWORD).status_code == 429


def test_sign_in_works_again_once_the_window_has_passed(app, clock):
    client = client_from(app)
    for _ in range(6):
        sign_in(client)
    assert sign_in(client, password=PASSWORD).status_code == 429
    clock.t += WINDOW - 61  # one second before the window ends: still paused
    assert sign_in(client, password=PASSWORD).headers["Retry-After"] == "1"
    clock.t += 1
    resp = sign_in(client, password=PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"


def test_a_successful_sign_in_clears_the_failures_from_that_address(app):
    client = client_from(app)
    assert [sign_in(client).status_code for _ in range(4)] == [401] * 4
    assert sign_in(client, password=PASSWORD).status_code == 302
    client = client_from(app)
    assert [sign_in(client).status_code for _ in range(6)] == [401] * 5 + [429]


def test_one_address_guessing_many_user_names_hits_the_address_limit(settings, clock, scrypt_checks):
    app = make_app(replace(settings, login_max_failures_per_address=6), clock)
    guesser = client_from(app, "198.51.100.9")
    assert [sign_in(guesser, f"user{i}").status_code for i in range(6)] == [401] * 6
    resp = sign_in(guesser, "admin", PASSWORD)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) == WINDOW - 60
    assert len(scrypt_checks) == 6
    # The limit is the guesser's, not everyone's.
    assert sign_in(client_from(app, "198.51.100.10"), "admin", PASSWORD).status_code == 302
    state.of(app).db.dispose()


def test_forwarded_for_is_trusted_only_for_the_configured_proxy_hops(settings, clock):
    direct = make_app(replace(settings, login_max_failures_per_address=3), clock)
    client = client_from(direct)
    # No proxy configured: a client rotating X-Forwarded-For is still one address.
    codes = [sign_in(client, f"user{i}", headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code for i in range(4)]
    assert codes == [401] * 3 + [429]
    state.of(direct).db.dispose()

    proxied = make_app(replace(settings, login_max_failures_per_address=3, login_proxy_hops=1,
                               database_url=f"sqlite:///{settings.home / 'proxied.db'}"), clock)
    proxy = client_from(proxied, "10.0.0.2")  # every request arrives from the proxy's address
    codes = [sign_in(proxy, f"user{i}", headers={"X-Forwarded-For": f"forged-{i}, 192.0.2.50"}).status_code
             for i in range(4)]
    assert codes == [401] * 3 + [429]  # the part the client wrote is ignored
    assert sign_in(proxy, "admin", PASSWORD, headers={"X-Forwarded-For": "192.0.2.51"}).status_code == 302
    state.of(proxied).db.dispose()


def test_log_lines_name_no_password_and_no_address(app, caplog):
    caplog.set_level(logging.INFO, logger="cds_service.admin.throttle")
    client = client_from(app)
    for _ in range(5):
        sign_in(client, password="hunter2-secret-guess")
    sign_in(client, password=PASSWORD)
    lines = [r.getMessage() for r in caplog.records if r.name == "cds_service.admin.throttle"]
    assert len([m for m in lines if "sign-in failed" in m]) == 5
    assert len([m for m in lines if "sign-in throttled" in m]) == 1
    for text in ("hunter2", PASSWORD, "203.0.113.7", "user#admin"):
        assert text not in caplog.text
    assert len({m.split("user#")[1].split()[0] for m in lines}) == 1  # one account, one tag to follow


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_app_instances_on_one_database_share_the_count(backend, settings, clock, request, tmp_path):
    """The multi-worker case: gunicorn workers (or hosts) are separate app instances on one database."""
    user, address = f"u{uuid.uuid4().hex[:12]}", f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    if backend == "postgres":  # one server per session: a fresh user name keeps tests apart
        settings = replace(settings, database_url=request.getfixturevalue("postgres_url"),
                           secret_key="shared-q7Vx2mR9tK4wZ8pL3nB6sW1yH5cJ0dF")
    first = make_app(settings, clock, user)
    second = make_app(replace(settings, home=tmp_path / "second"), clock, user="")
    one, two = client_from(first, address), client_from(second, address)
    assert [sign_in(one, user).status_code for _ in range(3)] == [401] * 3
    assert [sign_in(two, user).status_code for _ in range(2)] == [401] * 2
    assert sign_in(one, user, PASSWORD).status_code == 429
    assert sign_in(two, user, PASSWORD).status_code == 429
    clock.t += WINDOW
    assert sign_in(two, user, PASSWORD).status_code == 302
    for app in (first, second):
        state.of(app).db.dispose()


@pytest.mark.parametrize(("name", "value"), [
    ("PAINPA_LOGIN_MAX_FAILURES", "0"), ("PAINPA_LOGIN_MAX_FAILURES", "101"),
    ("PAINPA_LOGIN_MAX_FAILURES_PER_ADDRESS", "many"), ("PAINPA_LOGIN_WINDOW_S", "5"),
    ("PAINPA_LOGIN_PROXY_HOPS", "-1"), ("PAINPA_LOGIN_MAX_FAILURES_PER_USER", "101"),
    ("PAINPA_LOGIN_MAX_FAILURES_PER_USER", "lots"),
])
def test_bad_throttle_settings_stop_start_up_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env={name: value})


def test_throttle_settings_from_the_environment():
    s = Settings.from_env(env={"PAINPA_LOGIN_MAX_FAILURES": "3", "PAINPA_LOGIN_MAX_FAILURES_PER_ADDRESS": "50",
                               "PAINPA_LOGIN_WINDOW_S": "600", "PAINPA_LOGIN_PROXY_HOPS": "1"})
    assert (s.login_max_failures, s.login_max_failures_per_address, s.login_window_s, s.login_proxy_hops) == \
        (3, 50, 600, 1)
    d = Settings.from_env(env={})
    assert (d.login_max_failures, d.login_max_failures_per_address, d.login_window_s, d.login_proxy_hops) == \
        (5, 20, 900, 0)


def test_a_per_user_ceiling_at_or_under_the_per_address_budget_stops_start_up():
    """At or under the pair budget, one address could hold the name at its ceiling (a lockout)."""
    with pytest.raises(ConfigError, match="PAINPA_LOGIN_MAX_FAILURES_PER_USER=5 must be more than"):
        Settings.from_env(env={"PAINPA_LOGIN_MAX_FAILURES_PER_USER": "5"})
    s = Settings.from_env(env={"PAINPA_LOGIN_MAX_FAILURES": "2", "PAINPA_LOGIN_MAX_FAILURES_PER_USER": "3"})
    assert (s.login_max_failures, s.login_max_failures_per_user) == (2, 3)
    assert Settings.from_env(env={}).login_max_failures_per_user == 100


def test_one_address_failing_admin_every_window_never_keeps_the_admin_out(app, clock, scrypt_checks):
    """The lockout the security review found: an attacker at one address spends a known name's budget
    at the start of every window; the admin at another address must still get in, every window."""
    attacker, admin = client_from(app, "198.51.100.66"), client_from(app, "203.0.113.7")
    for _window in range(4):
        codes = [sign_in(attacker, "admin").status_code for _ in range(30)]
        assert codes == [401] * 5 + [429] * 25  # the attacker's own pair, then address, budget
        resp = sign_in(admin, password=PASSWORD)
        assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"
        clock.t += WINDOW
    assert len(scrypt_checks) == 4 * (5 + 1)  # throttled guesses cost no scrypt


def test_failures_from_many_addresses_reach_the_per_user_ceiling(settings, clock, scrypt_checks):
    """NIST's cap on one account from everywhere (set low here): 3 addresses x 2 failures = the
    ceiling of 6; the next attempt at that name, from anywhere, is paused; unknown names alike."""
    app = make_app(replace(settings, login_max_failures=2, login_max_failures_per_user=6), clock)
    for i in range(3):
        for name in ("admin", "ghost"):
            guesser = client_from(app, f"198.51.100.{i + 1}")
            assert [sign_in(guesser, name).status_code for _ in range(2)] == [401, 401]
    fresh = [sign_in(client_from(app, "203.0.113.99"), name, PASSWORD) for name in ("admin", "ghost")]
    assert [r.status_code for r in fresh] == [429, 429]
    assert admin_forms.without_token(fresh[0]) == admin_forms.without_token(fresh[1])
    assert int(fresh[0].headers["Retry-After"]) == WINDOW - 60
    assert len(scrypt_checks) == 12
    # Other names are not affected, and the pause ends with the window.
    assert sign_in(client_from(app, "203.0.113.99"), "other").status_code == 401
    clock.t += WINDOW
    assert sign_in(client_from(app, "203.0.113.99"), "admin", PASSWORD).status_code == 302
    state.of(app).db.dispose()


def test_attempts_refused_for_their_address_or_pair_do_not_count_against_the_user(settings, clock):
    """Pair budget 2, address budget 4, user ceiling 4. The attacker's 10 attempts: 2 fail, 2 are
    refused by the pair budget, 6 by the address budget; only the 2 failures count on the name."""
    app = make_app(replace(settings, login_max_failures=2, login_max_failures_per_address=4,
                           login_max_failures_per_user=4), clock)
    attacker = client_from(app, "198.51.100.66")
    assert [sign_in(attacker, "admin").status_code for _ in range(10)] == [401] * 2 + [429] * 8
    # 2 on the name so far, 3 after one more failure from elsewhere ...
    assert sign_in(client_from(app, "198.51.100.67"), "admin").status_code == 401
    # ... so the admin's attempt is the 4th, within the ceiling; had the refused 8 counted, 429.
    admin = client_from(app, "203.0.113.7")
    assert sign_in(admin, password=PASSWORD).status_code == 302
    state.of(app).db.dispose()


def test_a_right_password_gives_back_one_attempt_on_the_name_not_the_whole_count(settings, clock):
    """Pair budget 3, ceiling 8. A success clears its own pair (3 more failures from there are 401)
    and gives back its own attempt on the name; it does not reset the name's count, which bounds the
    guesses from every address (the running count on the name is in the comments)."""
    app = make_app(replace(settings, login_max_failures=3, login_max_failures_per_user=8), clock)
    a = client_from(app, "203.0.113.7")
    assert [sign_in(a).status_code for _ in range(2)] == [401, 401]  # 2
    assert sign_in(a, password=PASSWORD).status_code == 302  # 3 - 1 = 2, pair cleared
    assert [sign_in(a).status_code for _ in range(3)] == [401] * 3  # 5
    assert [sign_in(client_from(app, "198.51.100.2")).status_code for _ in range(2)] == [401, 401]  # 7
    assert sign_in(client_from(app, "198.51.100.3"), password=PASSWORD).status_code == 302  # 8 - 1 = 7
    assert sign_in(client_from(app, "198.51.100.4")).status_code == 401  # 8: at the ceiling
    assert sign_in(client_from(app, "198.51.100.5"), password=PASSWORD).status_code == 429  # 9 > 8
    state.of(app).db.dispose()


def test_an_over_long_user_name_just_fails_like_any_wrong_name(app, scrypt_checks, monkeypatch):
    """A name of 100 000 characters (each of which NFKC expands 18-fold) answers the same 401 as a
    wrong name, without normalising the whole input or running the hash check, and is counted."""
    seen: list[int] = []
    real = throttle.unicodedata.normalize
    monkeypatch.setattr(throttle.unicodedata, "normalize", lambda form, text: (seen.append(len(text)),
                                                                                real(form, text))[1])
    client = client_from(app)
    huge = "\ufdfa" * 100_000
    wrong = sign_in(client, "nobody")
    long = [sign_in(client, huge, PASSWORD) for _ in range(6)]
    assert [r.status_code for r in long] == [401] * 5 + [429]  # counted: a budget like any name's
    assert long[0].data == wrong.data
    assert max(seen) <= 256  # cut before NFKC
    assert len(scrypt_checks) == 1  # only "nobody"
    assert sign_in(client_from(app, "203.0.113.8"), "admin", PASSWORD).status_code == 302
