"""Server-side dashboard sessions behind Flask's ``session`` (Flask "Sessions" / ``SessionInterface``;
OWASP Session Management cheat sheet: an opaque, random session id is all the cookie holds, and it
is renewed at login).

The content (the signed-in user, the CSRF token, flashed messages) lives in the database, keyed by
the SHA-256 of the id, so a reader of the cookie learns nothing and a reader of the table cannot
replay a row. The cookie is ``painpa_admin``: HttpOnly, SameSite=Strict, Secure when the base URL
is https, sent only to ``/admin``; it is set only once a session has content, so an anonymous visit
writes nothing. Sessions end at sign-out or :data:`LIFETIME` after sign-in; each new session
removes the expired rows, so the table holds no more than the sessions of the last hours.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta

from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete
from werkzeug.datastructures import CallbackDict

from cds_service import state
from cds_service.admin.tables import AdminSession

COOKIE = "painpa_admin"
PATH = "/admin"
LIFETIME = timedelta(hours=8)


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _changed(session: ServerSession) -> None:
    # Module-level, not a closure over the session: a closure would make every request's session a
    # reference cycle (tests/cds/test_no_reference_cycles.py).
    session.modified = True


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict | None = None, sid: str | None = None) -> None:
        super().__init__(initial or {}, _changed)
        self.sid = sid
        self.modified = False
        self.renew = False

    def rotate(self) -> None:
        """Give this session a new id when it is saved (at sign-in: no fixation of an earlier id)."""
        self.renew = True
        self.modified = True


class DatabaseSessionInterface(SessionInterface):
    def open_session(self, app, request) -> ServerSession:
        sid = request.cookies.get(COOKIE)
        if not sid or len(sid) > 100:
            return ServerSession()
        with state.of(app).db.session() as s:
            row = s.get(AdminSession, _digest(sid))
            if row is None or _aware(row.expires) <= datetime.now(UTC):
                return ServerSession()
            return ServerSession(json.loads(row.data), sid)

    def save_session(self, app, session: ServerSession, response) -> None:
        cookie = {"path": PATH, "httponly": True, "secure": state.of(app).settings.secure_cookies,
                  "samesite": "Strict"}
        if not session.modified:
            return
        db = state.of(app).db
        if not session:
            if session.sid:
                with db.session() as s:
                    s.execute(delete(AdminSession).where(AdminSession.id_digest == _digest(session.sid)))
                response.delete_cookie(COOKIE, **cookie)
            return
        old, sid = session.sid, session.sid
        if sid is None or session.renew:
            sid = secrets.token_urlsafe(32)
        data = json.dumps(dict(session), separators=(",", ":"))
        now = datetime.now(UTC)
        with db.session() as s:
            if old != sid:
                gone = AdminSession.expires < now if old is None else \
                    (AdminSession.expires < now) | (AdminSession.id_digest == _digest(old))
                s.execute(delete(AdminSession).where(gone))
            row = s.get(AdminSession, _digest(sid))
            if row is None:
                s.add(AdminSession(id_digest=_digest(sid), data=data, expires=now + LIFETIME))
            else:
                row.data = data
        session.sid, session.renew = sid, False
        if sid != old:
            response.set_cookie(COOKIE, sid, **cookie)


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

