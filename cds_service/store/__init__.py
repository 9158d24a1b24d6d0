"""Persistence through SQLAlchemy 2: SQLite (WAL) by default, PostgreSQL for several workers.

Every table module imports :class:`Base` from :mod:`cds_service.store.base`; :func:`init_db` imports
them all so that ``create_all`` sees every table.
"""

from cds_service.store.base import Base, Database, init_db

__all__ = ["Base", "Database", "init_db"]
