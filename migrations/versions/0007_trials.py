"""Trials: models and prompt drafts side by side, each answer a cell the worker claims.

Revision ID: 0007_trials
Revises: 0006_flow_tokens
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_trials"
down_revision = "0006_flow_tokens"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("models", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("last_n", sa.Integer(), nullable=True),
        sa.Column("questions", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trials_created_at", "trials", ["created_at"])

    op.create_table(
        "trial_cells",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("question", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Double(), nullable=True),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trial_cells_trial_id", "trial_cells", ["trial_id"])
    # The worker looks for pending cells, and for running ones whose lease ran out.
    op.create_index("ix_trial_cells_state_lease", "trial_cells", ["state", "lease_until"])


def downgrade():
    op.drop_index("ix_trial_cells_state_lease", table_name="trial_cells")
    op.drop_index("ix_trial_cells_trial_id", table_name="trial_cells")
    op.drop_table("trial_cells")
    op.drop_index("ix_trials_created_at", table_name="trials")
    op.drop_table("trials")
