"""The queue's index: the waiting messages in arrival order, so a claim reads the first few
rows instead of grouping every waiting message (on PostgreSQL, a sort of the whole queue).

Revision ID: 0010_queue
Revises: 0009_media
Create Date: 2026-11-26
"""

from alembic import op

revision = "0010_queue"
down_revision = "0009_media"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_messages_direction_state_id", "messages", ["direction", "state", "id"])
    op.drop_index("ix_messages_direction_state", table_name="messages")


def downgrade():
    op.create_index("ix_messages_direction_state", "messages", ["direction", "state"])
    op.drop_index("ix_messages_direction_state_id", table_name="messages")
