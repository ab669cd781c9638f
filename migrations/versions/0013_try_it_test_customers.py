"""Try it: the admin's test customers are contacts marked by channel, never WhatsApp customers.

The Try it page chats with the assistant through the same queue and turns as a customer on
WhatsApp, as a contact of its own; the conversations list, the dashboard's counts and every
other place that counts customers leave such a contact out. Every contact until now is a
WhatsApp customer.

Revision ID: 0013_try_it_test_customers
Revises: 0012_forgotten_messages
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_try_it_test_customers"
down_revision = "0012_forgotten_messages"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN with a default: no table copy, on SQLite and PostgreSQL alike.
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="whatsapp")
        )


def downgrade():
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("channel")
