"""Dashboard behaviour without a browser: sessions, CSRF, no open redirect after login, uploads,
CSV export with formula injection defused (OWASP), and clear errors for bad files."""

from __future__ import annotations

import io

import pytest

from cds_service import state
from cds_service.admin.auth import UserError, create_user
from cds_service.app import create_app
from tests.support.admin_forms import form_token, sign_in
from tests.support.denial_data import DATA

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(settings):
    app = create_app(settings)
    create_user(state.of(app).db, "admin", PASSWORD)
    yield app
    state.of(app).db.dispose()


def login(client, next_url: str = "") -> object:
    return sign_in(client, "admin", PASSWORD, next_url=next_url)


def csrf(client) -> str:
    return form_token(client, "/admin/import")


def test_pages_need_a_session(app):
    client = app.test_client()
    for path in ("/admin/", "/admin/denials", "/admin/goldcard", "/admin/scorecard", "/admin/import",
                 "/admin/denials?format=csv"):
        resp = client.get(path)
        assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]


def test_wrong_password_and_unknown_user_look_the_same(app):
    client = app.test_client()
    a = sign_in(client, "admin", "nope")
    b = sign_in(client, "ghost", "nope")
    assert a.status_code == b.status_code == 401 and a.data == b.data


def test_login_never_redirects_off_site(app):
    client = app.test_client()
    assert login(client, "//evil.example/admin").headers["Location"] == "/admin/"
    client = app.test_client()
    assert login(client, "/admin/scorecard").headers["Location"] == "/admin/scorecard"


def test_post_without_csrf_token_is_refused(app):
    client = app.test_client()
    login(client)
    resp = client.post("/admin/import", data={"kind": "denials"})
    assert resp.status_code == 400
    assert client.post("/admin/logout").status_code == 400


def test_upload_and_export_with_formula_injection_defused(app):
    client = app.test_client()
    login(client)
    evil = b"payer,code,date,reason_text\n=HYPERLINK(\"http://x\"),64483,2026-10-01,Duplicate\n"
    resp = client.post("/admin/import", data={"csrf": csrf(client), "kind": "denials",
                                              "file": (io.BytesIO(evil), "evil.csv")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "1 added" in resp.get_data(as_text=True)
    body = client.get("/admin/denials/unmapped?format=csv").get_data(as_text=True)
    assert "'=HYPERLINK" in body and "\n=HYPERLINK" not in body


def test_bad_upload_says_what_is_wrong(app):
    client = app.test_client()
    login(client)
    resp = client.post("/admin/import", data={"csrf": csrf(client), "kind": "metrics",
                                              "file": (io.BytesIO(b"\xff\xfe\x00bad"), "m.csv")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "not UTF-8 text" in resp.get_data(as_text=True)
    resp = client.post("/admin/import", data={"csrf": csrf(client), "kind": "metrics",
                                              "file": (io.BytesIO((DATA / "denials.csv").read_bytes()), "d.csv")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "missing column(s) year" in resp.get_data(as_text=True)


def test_pas_import_only_from_registered_servers(app):
    client = app.test_client()
    login(client)
    resp = client.post("/admin/import", data={"csrf": csrf(client), "kind": "pas",
                                              "fhir_base": "http://169.254.169.254/latest"})
    assert resp.status_code == 400


def test_weak_or_duplicate_users_refused(app):
    db = state.of(app).db
    with pytest.raises(UserError, match="at least 12"):
        create_user(db, "bob", "short")
    with pytest.raises(UserError, match="already exists"):
        create_user(db, "admin", PASSWORD)
    with pytest.raises(UserError, match="username"):
        create_user(db, "a b", PASSWORD)
