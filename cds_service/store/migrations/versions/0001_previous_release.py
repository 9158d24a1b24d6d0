"""The schema of the release before migrations (git commit 21da843), as its ``create_all`` made it.

Every product table, with the types, nullability, keys and index names SQLAlchemy gave them there;
tests/migrations checks it against that release's own DDL (tests/migrations/previous_release/).
Tables and indexes are created IF NOT EXISTS: on a database of that release where only some tables
were made (``painpa clients add`` before the first ``painpa serve`` made the ``cds_`` ones only),
``painpa db upgrade`` runs this revision to create the others (cds_service/store/migrate.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# In the order upgrade() creates them (ins_denial_reason, which refers to ins_decision, last).
TABLES = ("cds_app_links", "cds_audit", "cds_clients", "cds_feedback", "cds_seen_jti", "ins_admin_session",
          "ins_admin_user", "ins_decision", "ins_payer_metric", "sec_rate_counters", "smart_pending_launch",
          "smart_session", "ins_denial_reason")


def upgrade() -> None:
    op.create_table(
        "cds_app_links",
        sa.Column("handle", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("handle"),
        if_not_exists=True,
    )
    op.create_index("ix_cds_app_links_expires", "cds_app_links", ["expires"], unique=False, if_not_exists=True)
    op.create_table(
        "cds_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hook_instance", sa.String(length=128), nullable=True),
        sa.Column("service_id", sa.String(length=128), nullable=False),
        sa.Column("hook", sa.String(length=64), nullable=True),
        sa.Column("iss", sa.String(length=512), nullable=True),
        sa.Column("patient_hash", sa.String(length=64), nullable=True),
        sa.Column("order_codes", sa.JSON(), nullable=False),
        sa.Column("determinations", sa.JSON(), nullable=False),
        sa.Column("card_uuids", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("incomplete", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index("ix_cds_audit_at", "cds_audit", ["at"], unique=False, if_not_exists=True)
    op.create_index("ix_cds_audit_hook_instance", "cds_audit", ["hook_instance"], unique=False, if_not_exists=True)
    op.create_table(
        "cds_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("iss", sa.String(length=512), nullable=False),
        sa.Column("tenant", sa.String(length=256), nullable=True),
        sa.Column("jwks_url", sa.String(length=1024), nullable=True),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("fhir_bases", sa.JSON(), nullable=False),
        sa.Column("smart_client_id", sa.String(length=256), nullable=True),
        sa.Column("default_state", sa.String(length=2), nullable=True),
        sa.Column("default_pos", sa.String(length=4), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("iss"),
        if_not_exists=True,
    )
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(length=128), nullable=False),
        sa.Column("iss", sa.String(length=512), nullable=False),
        sa.Column("card", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_ts", sa.String(length=64), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_code", sa.String(length=256), nullable=True),
        sa.Column("override_system", sa.String(length=512), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("received", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "card", "outcome", "outcome_ts", name="uq_feedback"),
        if_not_exists=True,
    )
    op.create_index("ix_cds_feedback_card", "cds_feedback", ["card"], unique=False, if_not_exists=True)
    op.create_table(
        "cds_seen_jti",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("iss", sa.String(length=512), nullable=False),
        sa.Column("jti", sa.String(length=256), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("iss", "jti", name="uq_seen_jti"),
        if_not_exists=True,
    )
    op.create_index("ix_cds_seen_jti_expires", "cds_seen_jti", ["expires"], unique=False, if_not_exists=True)
    op.create_table(
        "ins_admin_session",
        sa.Column("id_digest", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_digest"),
        if_not_exists=True,
    )
    op.create_index("ix_ins_admin_session_expires", "ins_admin_session", ["expires"], unique=False, if_not_exists=True)
    op.create_table(
        "ins_admin_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
        if_not_exists=True,
    )
    op.create_table(
        "ins_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_key", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payer", sa.String(length=256), nullable=False),
        sa.Column("payer_label", sa.String(length=256), nullable=False),
        sa.Column("plan", sa.String(length=256), nullable=False),
        sa.Column("plan_label", sa.String(length=256), nullable=False),
        sa.Column("program", sa.String(length=128), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("clinician", sa.String(length=256), nullable=False),
        sa.Column("clinician_label", sa.String(length=256), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("appeal_outcome", sa.String(length=16), nullable=False),
        sa.Column("expedited", sa.Boolean(), nullable=False),
        sa.Column("submitted", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided", sa.Date(), nullable=False),
        sa.Column("decision_hours", sa.Float(), nullable=True),
        sa.Column("patient_hash", sa.String(length=64), nullable=False),
        sa.Column("imported", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "source_key", name="uq_ins_decision_source"),
        if_not_exists=True,
    )
    op.create_index("ix_ins_decision_clinician", "ins_decision", ["clinician"], unique=False, if_not_exists=True)
    op.create_index("ix_ins_decision_code", "ins_decision", ["code"], unique=False, if_not_exists=True)
    op.create_index("ix_ins_decision_decided", "ins_decision", ["decided"], unique=False, if_not_exists=True)
    op.create_index("ix_ins_decision_outcome", "ins_decision", ["outcome"], unique=False, if_not_exists=True)
    op.create_index("ix_ins_decision_payer", "ins_decision", ["payer"], unique=False, if_not_exists=True)
    op.create_index("ix_ins_decision_plan", "ins_decision", ["plan"], unique=False, if_not_exists=True)
    op.create_table(
        "ins_payer_metric",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payer", sa.String(length=256), nullable=False),
        sa.Column("payer_label", sa.String(length=256), nullable=False),
        sa.Column("plan", sa.String(length=256), nullable=False),
        sa.Column("plan_label", sa.String(length=256), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("pct_approved", sa.Float(), nullable=True),
        sa.Column("pct_denied", sa.Float(), nullable=True),
        sa.Column("pct_approved_after_appeal", sa.Float(), nullable=True),
        sa.Column("median_hours_standard", sa.Float(), nullable=True),
        sa.Column("median_hours_expedited", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("imported", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("payer", "plan", "year", name="uq_ins_payer_metric"),
        if_not_exists=True,
    )
    op.create_index("ix_ins_payer_metric_payer", "ins_payer_metric", ["payer"], unique=False, if_not_exists=True)
    op.create_table(
        "sec_rate_counters",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        if_not_exists=True,
    )
    op.create_index("ix_sec_rate_counters_expires", "sec_rate_counters", ["expires"], unique=False, if_not_exists=True)
    op.create_table(
        "smart_pending_launch",
        sa.Column("state_digest", sa.String(length=64), nullable=False),
        sa.Column("browser_digest", sa.String(length=64), nullable=False),
        sa.Column("iss", sa.Text(), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("launch", sa.Text(), nullable=True),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("token_endpoint", sa.Text(), nullable=False),
        sa.Column("auth_method", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("state_digest"),
        if_not_exists=True,
    )
    op.create_index("ix_smart_pending_launch_browser_digest", "smart_pending_launch", ["browser_digest"], unique=False, if_not_exists=True)
    op.create_table(
        "smart_session",
        sa.Column("id_digest", sa.String(length=64), nullable=False),
        sa.Column("browser_digest", sa.String(length=64), nullable=False),
        sa.Column("iss", sa.Text(), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("token_endpoint", sa.Text(), nullable=False),
        sa.Column("auth_method", sa.String(length=40), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("card", sa.JSON(), nullable=True),
        sa.Column("refreshes", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_digest"),
        if_not_exists=True,
    )
    op.create_index("ix_smart_session_browser_digest", "smart_session", ["browser_digest"], unique=False, if_not_exists=True)
    op.create_table(
        "ins_denial_reason",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("carc", sa.String(length=64), nullable=False),
        sa.Column("rarc", sa.String(length=64), nullable=False),
        sa.Column("requirement", sa.String(length=128), nullable=True),
        sa.Column("rule", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["decision_id"], ["ins_decision.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index("ix_ins_denial_reason_decision_id", "ins_denial_reason", ["decision_id"], unique=False, if_not_exists=True)
    op.create_index("ix_ins_denial_reason_requirement", "ins_denial_reason", ["requirement"], unique=False, if_not_exists=True)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)  # its indexes go with it
