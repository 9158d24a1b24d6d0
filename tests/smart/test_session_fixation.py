"""No session fixation in the SMART app (SMART App Launch 2.2 "App protection"; OWASP Session
Management cheat sheet: renew the session id at a privilege change; docs/security.md §2.8).

Reproduction from an attack run: someone who can plant ``painpa_smart`` in the clinician's browser
(a sibling subdomain, or plain http) and later sees the app's session URL (Referer, history, EHR
logs) read the worklist and the PA packet, because the launch adopted the planted value and the
callback kept it. Now the launch issues its own id and the callback issues another, bound to the
new session only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

PLANTED = "attacker-fixed-value-123456"


def _plant(browser, base: str) -> None:
    browser.cookies.set("painpa_smart", PLANTED, domain=urlsplit(base).hostname, path="/")


def test_a_planted_cookie_opens_nothing(stack):
    ehr = stack.ehrs["normal"]
    victim = stack.browser()
    _plant(victim, stack.base)
    _, _, resp, _ = stack.launch(ehr, session=victim)
    assert resp.status_code == 303
    worklist = stack.base + resp.headers["Location"]
    assert victim.get(worklist).status_code == 200          # the clinician's own page works
    attacker = stack.browser()
    _plant(attacker, stack.base)
    for page in (worklist, worklist + "/packet"):
        seen = attacker.get(page)
        assert seen.status_code == 401 and "another browser" in seen.text


def test_the_callback_rotates_the_launch_id(stack):
    """The id the launch gave the browser cannot open the session; only the callback's can."""
    ehr = stack.ehrs["normal"]
    browser = stack.browser()
    launch = ehr.launch({"patient": "pat-1"})
    r = browser.get(f"{stack.base}/smart/launch", params={"iss": ehr.fhir, "launch": launch}, allow_redirects=False)
    launch_ids = [c.value for c in browser.cookies if c.name.startswith("painpa_launch_")]
    assert len(launch_ids) == 1 and all(c.path == "/smart/callback" for c in browser.cookies)
    callback = browser.get(r.headers["Location"], allow_redirects=False).headers["Location"]
    resp = browser.get(callback, allow_redirects=False)
    assert resp.status_code == 303
    session_path = urlsplit(resp.headers["Location"]).path
    session_cookies = [c for c in browser.cookies if c.name == "painpa_smart"]
    assert [c.path for c in session_cookies] == [session_path]       # sent to this session's pages only
    assert session_cookies[0].value != launch_ids[0]
    assert not [c for c in browser.cookies if c.name.startswith("painpa_launch_")]  # used up, removed
    replay = stack.browser()
    replay.cookies.set("painpa_smart", launch_ids[0], domain=urlsplit(stack.base).hostname, path="/")
    assert replay.get(stack.base + session_path).status_code == 401


def test_two_launches_in_two_tabs_keep_both_sessions(stack):
    """Per-session cookies: a second launch in the same browser does not end the first session."""
    ehr = stack.ehrs["normal"]
    browser = stack.browser()
    first = stack.launch(ehr, {"patient": "pat-1"}, session=browser)[2].headers["Location"]
    second = stack.launch(ehr, {"patient": "pat-1"}, session=browser)[2].headers["Location"]
    assert first != second
    assert browser.get(stack.base + first).status_code == 200
    assert browser.get(stack.base + second).status_code == 200
