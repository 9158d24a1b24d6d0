"""Alembic's environment script (Alembic docs, "The Migration Environment"): every Alembic command
runs it. painpa runs those commands from :mod:`cds_service.store.migrate`, on a connection it holds
inside the transaction that holds the migration lock, so this only hands Alembic's context there."""

from alembic import context

from cds_service.store import migrate

migrate.run_environment(context)
