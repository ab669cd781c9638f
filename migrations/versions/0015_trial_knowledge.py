"""The knowledge each Compare answer was given, on its cell (a cell has no log row of its own
to carry it, as a WhatsApp answer does).

Revision ID: 0015_trial_knowledge
Revises: 0014_knowledge
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_trial_knowledge"
down_revision = "0014_knowledge"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN: no table copy, on SQLite and PostgreSQL alike.
    with op.batch_alter_table("trial_cells", schema=None) as batch_op:
        batch_op.add_column(sa.Column("knowledge", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("trial_cells", schema=None) as batch_op:
        batch_op.drop_column("knowledge")
