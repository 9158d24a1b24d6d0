"""The dashboard's forms as a browser fills them: each post carries the token its page rendered
(the sign-in form's login-CSRF token, every other form's session CSRF token)."""

from __future__ import annotations

import re

_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def form_token(client, path: str, form: str = "") -> str:
    """The CSRF token of the form on ``path`` (the first form whose tag contains ``form``), read from
    the page as served."""
    page = client.get(path).get_data(as_text=True)
    found = _TOKEN.search(page, page.index(form) if form else 0)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client, username: str, password: str, *, next_url: str = "", headers: dict | None = None):
    token = form_token(client, "/admin/login", 'class="login"')
    query = f"?next={next_url}" if next_url else ""
    return client.post(f"/admin/login{query}", data={"username": username, "password": password, "csrf": token},
                       headers=headers or {})


def without_token(resp) -> str:
    """The page as text with its CSRF token blanked: two browsers' pages compared for the rest."""
    return _TOKEN.sub('name="csrf" value=""', resp.get_data(as_text=True))
