"""PostgreSQL keeps an embedding of up to about 8 KB (1,536 numbers: 6 KB) in its row, not in
the table's TOAST store: a search reads 40 of them, and fetching each from the TOAST store
took twice as long. Larger ones (3,072 numbers) are still stored apart, uncompressed, since
numbers like these do not compress. Rows already stored move when their vector is written
again (a new embedding model). SQLite keeps every row whole: nothing to do there.

Revision ID: 0016_vectors_inline
Revises: 0015_trial_knowledge
Create Date: 2026-12-07
"""

from alembic import op

revision = "0016_vectors_inline"
down_revision = "0015_trial_knowledge"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE knowledge_vectors SET (toast_tuple_target = 8160)")
        op.execute("ALTER TABLE knowledge_vectors ALTER COLUMN vector SET STORAGE EXTERNAL")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE knowledge_vectors RESET (toast_tuple_target)")
        op.execute("ALTER TABLE knowledge_vectors ALTER COLUMN vector SET STORAGE EXTENDED")
