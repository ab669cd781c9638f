"""Flow tokens: bearer tokens for the flow endpoint, failed attempts, messages marked by channel.

A flow builder's exchanges with a known customer are kept in that customer's conversation, so
each message now says which way it came: WhatsApp (every message until now) or a flow.

Revision ID: 0006_flow_tokens
Revises: 0005_model_roles
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_flow_tokens"
down_revision = "0005_model_roles"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "flow_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("display", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "flow_token_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_flow_token_failures_address_at", "flow_token_failures", ["address", "at"]
    )
    # A plain ADD COLUMN with a default: no table copy, on SQLite and PostgreSQL alike.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "channel", sa.String(length=16), nullable=False, server_default="whatsapp"
            )
        )


def downgrade():
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("channel")
    op.drop_index("ix_flow_token_failures_address_at", table_name="flow_token_failures")
    op.drop_table("flow_token_failures")
    op.drop_table("flow_tokens")
