"""SMART tokens at rest (SMART App Launch 2.2 "App protection"; standards.md §5.5, §8.14): the
``smart_session`` table holds the EHR's access and refresh tokens only AES-256-GCM sealed, on the
first grant and after every refresh — a copy of the database file alone does not open the EHR."""

from __future__ import annotations

from functools import partial

from sqlalchemy import text

from cds_service.config import Settings
from cds_service.store.base import Database
from smart_app import keys, oauth
from smart_app.tables import digest


def _raw_row(db: Database, key: str) -> tuple[str, str]:
    with db.session() as s:
        return tuple(s.execute(text("SELECT access_token, refresh_token FROM smart_session WHERE id_digest = :k"),
                               {"k": key}).one())


def _file_bytes(stack) -> bytes:
    """Every byte SQLite keeps on disk for the app's database (main file, WAL, rollback journal)."""
    base = stack.home / "painpa.db"
    return b"".join(p.read_bytes() for p in (base, base.with_name("painpa.db-wal"), base.with_name("painpa.db-journal"))
                    if p.exists())


def test_access_and_refresh_tokens_are_never_stored_in_clear(stack):
    ehr = stack.ehrs["short-token"]
    _, _, resp, _ = stack.launch(ehr)
    key = digest(resp.headers["Location"].rsplit("/", 1)[1])
    db = Database(f"sqlite:///{stack.home / 'painpa.db'}")
    settings = Settings.from_env(env={}, home=stack.home, base_url=stack.base)  # the instance's, as the process reads it
    unseal = partial(keys.unseal, db, settings)
    try:
        raw_access, raw_refresh = _raw_row(db, key)
        first_access, first_refresh = unseal(raw_access), unseal(raw_refresh)
        token = oauth.access_token(db, settings, key)          # 30 s left < 60 s skew: refreshes now
        sent = [t for t in ehr.log()["token"] if t["grant_type"] == "refresh_token"][-1]["refresh_token"]
        assert sent == first_refresh                            # what was stored is the EHR's real token
        new_raw_access, new_raw_refresh = _raw_row(db, key)
        assert unseal(new_raw_access) == token != first_access
        secrets_ = {first_access, first_refresh, token, unseal(new_raw_refresh)}
        for raw in (raw_access, raw_refresh, new_raw_access, new_raw_refresh):
            assert raw.count(".") == 4 and not any(t in raw for t in secrets_)   # compact JWE, nothing clear
        on_disk = _file_bytes(stack)
        assert on_disk and not [t for t in secrets_ if t.encode() in on_disk]
    finally:
        db.dispose()
