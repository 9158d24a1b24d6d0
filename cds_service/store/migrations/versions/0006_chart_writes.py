"""When painpa's SMART app last wrote to a chart: ``cds_chart_writes`` (cds_service/store/tables.py
``ChartWrite``), read by the order-select → order-sign warm cache (cds_service/fhir/warm.py) so that
a form saved between the two hooks is seen by the order-sign. Rolling back drops the table: the warm
cache then lives its 120 s again whatever the app writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_chart_writes",
        sa.Column("chart_hash", sa.String(64), primary_key=True),
        sa.Column("written", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cds_chart_writes_written", "cds_chart_writes", ["written"])


def downgrade() -> None:
    op.drop_index("ix_cds_chart_writes_written", table_name="cds_chart_writes")
    op.drop_table("cds_chart_writes")
