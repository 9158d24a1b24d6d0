"""painpa's pages have an icon (cds_service/favicon.py): ``/favicon.ico`` answers with a real ICO on
the production app and the sandbox, and the admin, SMART app and sandbox pages declare it, so no
browser request for it ends in a 404 (the sandbox order screen is also checked in Chromium:
tests/sandbox/test_card_panel_browser.py)."""

from __future__ import annotations

from cds_service import state
from cds_service.app import create_app
from sandbox.app import create_sandbox_app

ICON_LINK = '<link rel="icon" href="/favicon.ico"'


def test_favicon_and_its_link_on_every_surface(settings, tmp_path):
    app = create_app(settings)
    try:
        http = app.test_client()
        icon = http.get("/favicon.ico")
        assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
        assert icon.data[:4] == b"\x00\x00\x01\x00" and "max-age" in icon.headers["Cache-Control"]
        assert ICON_LINK in http.get("/admin/login").get_data(as_text=True)
        launch = http.get("/smart/launch", query_string={"iss": "https://unknown.example/fhir", "launch": "x"})
        assert launch.status_code >= 400 and ICON_LINK in launch.get_data(as_text=True)   # error page, still the icon
    finally:
        state.of(app).db.dispose()
    sandbox = create_sandbox_app(settings.__class__.from_env(env={}, home=tmp_path / "sb", sandbox=True,
                                                            base_url="http://127.0.0.1:8080"))
    try:
        http = sandbox.test_client()
        assert http.get("/favicon.ico").status_code == 200
        assert ICON_LINK in http.get("/ehr/").get_data(as_text=True)
    finally:
        state.of(sandbox).db.dispose()
