"""Received media: the stored file (named by its sha256), type, size, name and the text read
from it (a transcript, a PDF's text) of a message; what each log row called (media, transcription).

Revision ID: 0009_media
Revises: 0008_sessions
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_media"
down_revision = "0008_sessions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_file", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("media_mime", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("media_size", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("media_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("media_text", sa.Text(), nullable=True))
        batch_op.create_index("ix_messages_media_file", ["media_file"], unique=False)
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operation", sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.drop_column("operation")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_media_file")
        batch_op.drop_column("media_text")
        batch_op.drop_column("media_name")
        batch_op.drop_column("media_size")
        batch_op.drop_column("media_mime")
        batch_op.drop_column("media_file")
