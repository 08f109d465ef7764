"""Hook calls with their cards, feedback, and the JWT replay cache.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hook_call",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hook_instance", sa.String, nullable=False),
        sa.Column("service_id", sa.String, nullable=False),
        sa.Column("hook", sa.String, nullable=False),
        sa.Column("called_at", sa.DateTime, nullable=False),
        sa.Column("patient_id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("policy_version", sa.String, nullable=False),
    )
    op.create_index("ix_hook_call_called_at", "hook_call", ["called_at"])
    op.create_table(
        "card",
        sa.Column("uuid", sa.String, primary_key=True),
        sa.Column("call_id", sa.Integer, sa.ForeignKey("hook_call.id", ondelete="CASCADE"), nullable=False),
        sa.Column("topic", sa.String, nullable=False),
        sa.Column("indicator", sa.String, nullable=False),
    )
    op.create_index("ix_card_call_id", "card", ["call_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("card_uuid", sa.String, nullable=False),
        sa.Column("service_id", sa.String, nullable=False),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("outcome_at", sa.DateTime, nullable=False),
        sa.Column("accepted_suggestions", sa.JSON, nullable=False),
        sa.Column("reason_system", sa.String),
        sa.Column("reason_code", sa.String),
        sa.Column("reason_display", sa.String),
        sa.Column("user_comment", sa.Text),
        sa.Column("issuer", sa.String),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("unknown_card", sa.Boolean, nullable=False),
        sa.UniqueConstraint("card_uuid", "outcome", "outcome_at", name="uq_feedback_card_outcome_time"),
    )
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_table(
        "jwt_replay",
        sa.Column("issuer", sa.String, primary_key=True),
        sa.Column("jti", sa.String, primary_key=True),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_jwt_replay_expires_at", "jwt_replay", ["expires_at"])


def downgrade() -> None:
    for table in ("jwt_replay", "feedback", "card", "hook_call"):
        op.drop_table(table)
