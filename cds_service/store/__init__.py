"""Persistence through SQLAlchemy 2: SQLite (WAL) by default, PostgreSQL for several workers.

Every table module imports :class:`Base` from :mod:`cds_service.store.base` and is imported with the
surface that uses it; :func:`init_db` creates every table declared by then.
"""

from cds_service.store.base import Base, Database, init_db

__all__ = ["Base", "Database", "init_db"]
