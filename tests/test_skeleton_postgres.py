"""The store runs on PostgreSQL as on SQLite (ARCHITECTURE.md: DATABASE_URL)."""

from sqlalchemy import text

from cds_service.store import init_db


def test_database_url_postgres_round_trip(postgres_url):
    db = init_db(postgres_url)
    with db.session() as s:
        assert s.execute(text("SELECT 1")).scalar() == 1
    db.dispose()
