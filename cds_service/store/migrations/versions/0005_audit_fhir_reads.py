"""The FHIR reads of each audited call: ``cds_audit.fhir_reads`` (cds_service/store/tables.py
``AuditEvent``; cds_service/fhir/reads.py counts them). Nullable: rows written before it, and calls
refused before any read, hold none. Rolling back drops the counts (the rows stay).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch: an ALTER on PostgreSQL, SQLite's own ADD COLUMN there (Alembic docs, "Batch Migrations").
    with op.batch_alter_table("cds_audit") as batch_op:
        batch_op.add_column(sa.Column("fhir_reads", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cds_audit") as batch_op:
        batch_op.drop_column("fhir_reads")
