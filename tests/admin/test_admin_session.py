"""The dashboard's session and sign-in form (OWASP Session Management and CSRF cheat sheets;
RFC 6265bis cookie attributes; docs/security.md §2.8).

Findings of an attack run, each reproduced here: the sign-in form had no CSRF token (login CSRF:
a page elsewhere could sign the admin's browser into an attacker's account); the admin cookie had
no SameSite and would have had no Secure flag behind https; and it was a signed but readable Flask
cookie holding the user name and the CSRF token.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from cds_service import state
from cds_service.admin.auth import create_user
from cds_service.admin.tables import AdminSession
from cds_service.app import create_app
from tests.support.admin_forms import form_token, sign_in

PASSWORD = "correct horse battery staple"
OPAQUE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _app(settings, base_url: str):
    app = create_app(replace(settings, base_url=base_url))
    create_user(state.of(app).db, "admin", PASSWORD)
    return app


@pytest.fixture
def app(settings):
    app = _app(settings, "http://127.0.0.1:8080")
    yield app
    state.of(app).db.dispose()


def _cookie(resp, name: str) -> str:
    found = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith(name + "=")]
    assert len(found) == 1, resp.headers.getlist("Set-Cookie")
    return found[0]


def test_sign_in_without_a_csrf_token_is_refused_400(app):
    client = app.test_client()
    resp = client.post("/admin/login", data={"username": "admin", "password": PASSWORD})
    assert resp.status_code == 400 and "did not come from this dashboard" in resp.get_data(as_text=True)
    assert not [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("painpa_admin=")]
    assert client.get("/admin/").status_code == 302            # not signed in


def test_a_token_from_another_browser_is_refused(app):
    """The token is bound to the browser's own nonce cookie: one fetched by an attacker's browser
    and posted from the victim's does not sign the victim in."""
    attacker, victim = app.test_client(), app.test_client()
    token = form_token(attacker, "/admin/login", 'class="login"')
    victim.get("/admin/login")
    resp = victim.post("/admin/login", data={"username": "admin", "password": PASSWORD, "csrf": token})
    assert resp.status_code == 400


def test_session_cookie_is_an_opaque_id_strict_and_httponly(app):
    client = app.test_client()
    resp = sign_in(client, "admin", PASSWORD)
    assert resp.status_code == 302
    cookie = _cookie(resp, "painpa_admin")
    value = cookie.split(";")[0].split("=", 1)[1]
    assert OPAQUE.match(value), cookie                      # no signed JSON, no user name, no token
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie                           # plain http (sandbox, loopback)
    with state.of(app).db.session() as s:
        assert s.scalar(select(func.count()).select_from(AdminSession)) == 1
        assert value not in str(s.scalars(select(AdminSession.id_digest)).all())  # only its digest is kept


def test_every_cookie_is_secure_behind_https(settings):
    app = _app(settings, "https://painpa.example.org")
    client = app.test_client()
    page = client.get("/admin/login", base_url="https://painpa.example.org")
    login_cookie = _cookie(page, "__Host-painpa_login")
    assert "Secure" in login_cookie and "Path=/" in login_cookie and "SameSite=Strict" in login_cookie
    token = re.search(r'class="login".*?name="csrf" value="([^"]+)"', page.get_data(as_text=True), re.S).group(1)
    resp = client.post("/admin/login", base_url="https://painpa.example.org",
                       data={"username": "admin", "password": PASSWORD, "csrf": token})
    assert resp.status_code == 302
    assert "Secure" in _cookie(resp, "painpa_admin") and "SameSite=Strict" in _cookie(resp, "painpa_admin")
    state.of(app).db.dispose()


def test_sign_in_renews_the_id_and_a_planted_id_opens_nothing(app):
    client = app.test_client()
    client.set_cookie("painpa_admin", "attacker-chosen-session-id-0123456789", path="/admin")
    resp = sign_in(client, "admin", PASSWORD)
    value = _cookie(resp, "painpa_admin").split(";")[0].split("=", 1)[1]
    assert value != "attacker-chosen-session-id-0123456789"
    planted = app.test_client()
    planted.set_cookie("painpa_admin", "attacker-chosen-session-id-0123456789", path="/admin")
    assert planted.get("/admin/").status_code == 302


def test_sign_out_ends_the_session_on_the_server(app):
    """A copied cookie is useless after sign-out: the session row is gone (a signed cookie could not
    be revoked)."""
    client = app.test_client()
    value = _cookie(sign_in(client, "admin", PASSWORD), "painpa_admin").split(";")[0].split("=", 1)[1]
    assert client.get("/admin/").status_code == 200
    client.post("/admin/logout", data={"csrf": form_token(client, "/admin/import")})
    copy = app.test_client()
    copy.set_cookie("painpa_admin", value, path="/admin")
    assert copy.get("/admin/").status_code == 302
