"""The tenant's own values for the windows that are painpa's choice, not a policy's
(``cds_clients.policy_windows``, cds_service/store/tables.py ``Client``; keys from the policy data's
``painpa_choices``). Rolling back drops the column and the tenants fall back to painpa's defaults.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch: an ALTER on PostgreSQL, SQLite's own ADD COLUMN there (Alembic docs, "Batch Migrations").
    with op.batch_alter_table("cds_clients") as batch_op:
        batch_op.add_column(sa.Column("policy_windows", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cds_clients") as batch_op:
        batch_op.drop_column("policy_windows")
