"""Persistence through SQLAlchemy 2: SQLite (WAL) by default, PostgreSQL for several workers.

Every table module imports :class:`Base` from :mod:`cds_service.store.base` and is imported with the
surface that uses it. The schema those modules declare is versioned with Alembic
(:mod:`cds_service.store.migrate`, revisions in migrations/): :func:`init_db` opens a database whose
schema is this release's, creates it on a fresh database, and refuses any other (``painpa db upgrade``).
"""

from cds_service.store.base import Base, Database, init_db

__all__ = ["Base", "Database", "init_db"]
