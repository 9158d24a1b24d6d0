"""This release: painpa's own keys and the SMART client secrets in the database, the request id of
each audited call.

``smart_keys`` (smart_app/tables.py ``SmartKey``), ``smart_client_secrets`` (``SmartClientSecret``) and
``cds_audit.request_id`` (cds_service/store/tables.py ``AuditEvent``). Written by ``painpa db
revision`` (cds_service/store/migrations/README.md) against revision 0001, then reviewed. Rolling back
drops them with what they hold: the keys and client secrets stored in the database (the previous
release reads its key files and ``smart_client_secrets.json`` from PAINPA_HOME again), and the
request ids of the audit rows (the rows stay).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smart_keys",
        sa.Column("kid", sa.String(length=128), nullable=False),
        sa.Column("key_use", sa.String(length=8), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("public_jwk", sa.JSON(), nullable=True),
        sa.Column("private_jwe", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kid"),
        sa.UniqueConstraint("key_use", "generation", name="uq_smart_keys_use_generation"),
    )
    op.create_table(
        "smart_client_secrets",
        sa.Column("fhir_base", sa.String(length=1024), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("fhir_base"),
    )
    # Batch: an ALTER on PostgreSQL, SQLite's own ADD COLUMN there (Alembic docs, "Batch Migrations").
    with op.batch_alter_table("cds_audit") as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cds_audit") as batch_op:
        batch_op.drop_column("request_id")
    op.drop_table("smart_client_secrets")
    op.drop_table("smart_keys")
