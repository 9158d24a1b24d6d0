"""Dashboard users and sign-in: werkzeug password hashes (scrypt), the signed-in user kept in the
server-side session (:mod:`cds_service.admin.sessions`, its id renewed at sign-in), a per-session
CSRF token on every POST, and a login-CSRF token on the sign-in form itself (OWASP session
management and CSRF cheat sheets: "signed double-submit cookie")."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from functools import cache, wraps

from flask import abort, current_app, redirect, request, session, url_for
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from cds_service import state
from cds_service.admin.tables import AdminUser
from cds_service.store.base import Database

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MIN_PASSWORD = 12


@cache
def _dummy_hash() -> str:
    """A real hash to compare against when the user does not exist, so that timing does not tell;
    made on first use (scrypt costs ~0.2 s, too much for every import)."""
    return generate_password_hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    pass


def create_user(db: Database, username: str, password: str) -> None:
    if not USERNAME_RE.match(username or ""):
        raise UserError("username must be 3-64 characters: letters, digits, _ . @ -")
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"password must be at least {MIN_PASSWORD} characters")
    with db.session() as s:
        if s.scalars(select(AdminUser).where(AdminUser.username == username)).first() is not None:
            raise UserError(f"user {username!r} already exists")
        s.add(AdminUser(username=username, password_hash=generate_password_hash(password),
                        created=datetime.now(UTC), active=True))


def verify(db: Database, username: str, password: str) -> bool:
    with db.session() as s:
        user = s.scalars(select(AdminUser).where(AdminUser.username == username)).first()
        stored = user.password_hash if user is not None and user.active else _dummy_hash()
    ok = check_password_hash(stored, password or "")
    return ok and user is not None and user.active


def log_in(username: str) -> None:
    session.clear()
    session.rotate()  # a new id and new content at sign-in: no fixation of a pre-login session
    session["admin_user"] = username
    session["admin_csrf"] = secrets.token_urlsafe(32)


def login_cookie() -> dict:
    """Name and attributes of the sign-in form's nonce cookie. Behind https the ``__Host-`` prefix
    keeps a sibling subdomain from planting one (RFC 6265bis §4.1.3.2); SameSite=Strict keeps it
    off every cross-site post."""
    secure = state.current().settings.secure_cookies
    return {"key": "__Host-painpa_login" if secure else "painpa_login", "path": "/" if secure else "/admin/login",
            "httponly": True, "secure": secure, "samesite": "Strict", "max_age": 3600}


def login_nonce() -> str:
    value = request.cookies.get(login_cookie()["key"], "")
    return value if 20 <= len(value) <= 100 else secrets.token_urlsafe(32)


def login_token(nonce: str) -> str:
    return hmac.new(current_app.secret_key.encode(), b"admin-login|" + nonce.encode(), hashlib.sha256).hexdigest()


def login_csrf_ok() -> bool:
    nonce, sent = request.cookies.get(login_cookie()["key"], ""), request.form.get("csrf", "")
    return bool(nonce and sent) and hmac.compare_digest(sent, login_token(nonce))


def csrf_token() -> str:
    if "admin_csrf" not in session:
        session["admin_csrf"] = secrets.token_urlsafe(32)
    return session["admin_csrf"]


def check_csrf() -> None:
    sent = request.form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent, session.get("admin_csrf", "")):
        abort(400, description="The form expired or did not come from this dashboard; reload and try again.")


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not session.get("admin_user"):
            return redirect(url_for("admin.login", next=request.path))
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)

    return wrapped
