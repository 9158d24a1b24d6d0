"""The CRD version a registered client is answered in when its request names none
(``cds_clients.crd_version``, cds_service/store/tables.py ``Client``; ``painpa clients add
--crd-version``; cds_service/render/versions.py). Rolling back drops the column: those clients are
answered in CRD 2.0.1 again unless their requests ask for another version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cds_clients") as batch_op:
        batch_op.add_column(sa.Column("crd_version", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cds_clients") as batch_op:
        batch_op.drop_column("crd_version")
