"""Dashboard users and sessions: werkzeug password hashes (scrypt), a login stored in the signed
Flask session (rotated at login), and a per-session CSRF token on every POST (OWASP session
management and CSRF cheat sheets)."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import UTC, datetime
from functools import cache, wraps

from flask import abort, redirect, request, session, url_for
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

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
    session.clear()  # new session content at login: no fixation of a pre-login session
    session["admin_user"] = username
    session["admin_csrf"] = secrets.token_urlsafe(32)


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
