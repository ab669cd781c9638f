"""Money: a customer's and a flow key's limits (when they are answered again, why, when the
owner lifted it), the flow key each flow call came with, the limits a flow key has, budget
alerts that name no customer, and Meta's charges counted from delivery statuses.

Revision ID: 0018_money
Revises: 0017_people
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_money"
down_revision = "0017_people"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs: no table copy, on SQLite and PostgreSQL alike.
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("limited_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("limited_why", sa.String(length=300), nullable=True))
        batch_op.add_column(
            sa.Column("limit_lifted_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("flow_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_requests_per_hour", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_cost_per_day", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("limited_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("limit_lifted_at", sa.DateTime(timezone=True), nullable=True)
        )
    # The flow key's id, without a foreign key: keys are revoked, never deleted, and SQLite
    # would copy the whole log to add one.
    op.add_column("request_log", sa.Column("flow_token_id", sa.Integer(), nullable=True))
    op.create_index(
        "ix_request_log_flow_token_created", "request_log", ["flow_token_id", "created_at"]
    )
    # A budget alert names no customer. owner_alerts is small: SQLite's copy of it is quick.
    with op.batch_alter_table("owner_alerts", schema=None) as batch_op:
        batch_op.alter_column("contact_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "whatsapp_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wa_message_id", sa.String(length=256), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("pricing_model", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wa_message_id"),
    )
    op.create_index("ix_whatsapp_charges_created_at", "whatsapp_charges", ["created_at"])


def downgrade():
    op.drop_index("ix_whatsapp_charges_created_at", table_name="whatsapp_charges")
    op.drop_table("whatsapp_charges")
    with op.batch_alter_table("owner_alerts", schema=None) as batch_op:
        batch_op.alter_column("contact_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_request_log_flow_token_created", table_name="request_log")
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.drop_column("flow_token_id")
    with op.batch_alter_table("flow_tokens", schema=None) as batch_op:
        for column in ("limit_lifted_at", "limited_until", "max_cost_per_day",
                       "max_requests_per_hour"):  # fmt: skip
            batch_op.drop_column(column)
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        for column in ("limit_lifted_at", "limited_why", "limited_until"):
            batch_op.drop_column(column)
