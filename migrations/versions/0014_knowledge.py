"""Knowledge: the owner's sources, their chunks with full-text search and embeddings, the
questions the assistant could not answer; the last away message sent to each customer; the
knowledge an answer was given, on its log row.

Full-text search is the database's own: on SQLite an FTS5 table kept in step with the chunks
by triggers (Porter stemming over unicode61 words), on PostgreSQL a generated tsvector column
('english' configuration) with a GIN index. See webapp/knowledge/schema.py.

Revision ID: 0014_knowledge
Revises: 0013_try_it_test_customers
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_knowledge"
down_revision = "0013_try_it_test_customers"
branch_labels = None
depends_on = None

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE knowledge_fts USING fts5("
    "label, text, content='knowledge_chunks', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER knowledge_fts_insert AFTER INSERT ON knowledge_chunks BEGIN "
    "INSERT INTO knowledge_fts(rowid, label, text) VALUES (new.id, new.label, new.text); END",
    "CREATE TRIGGER knowledge_fts_delete AFTER DELETE ON knowledge_chunks BEGIN "
    "INSERT INTO knowledge_fts(knowledge_fts, rowid, label, text) "
    "VALUES ('delete', old.id, old.label, old.text); END",
    "CREATE TRIGGER knowledge_fts_update AFTER UPDATE ON knowledge_chunks BEGIN "
    "INSERT INTO knowledge_fts(knowledge_fts, rowid, label, text) "
    "VALUES ('delete', old.id, old.label, old.text); "
    "INSERT INTO knowledge_fts(rowid, label, text) VALUES (new.id, new.label, new.text); END",
)
POSTGRES_FTS = (
    "ALTER TABLE knowledge_chunks ADD COLUMN search tsvector GENERATED ALWAYS AS "
    "(to_tsvector('english', label || ' ' || text)) STORED",
    "CREATE INDEX ix_knowledge_chunks_search ON knowledge_chunks USING gin (search)",
)


def upgrade():
    op.create_table(
        "knowledge_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_format", sa.String(length=16), nullable=True),
        sa.Column("filename", sa.String(length=300), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(
        "ix_knowledge_sources_state_lease", "knowledge_sources", ["state", "lease_until"]
    )
    op.create_table(
        "knowledge_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=600), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["knowledge_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_knowledge_chunks_source_id", "knowledge_chunks", ["source_id"])
    op.create_table(
        "knowledge_vectors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chunk_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["chunk_id"], ["knowledge_chunks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chunk_id", "model", name="uq_knowledge_vectors_chunk"),
    )
    op.create_index("ix_knowledge_vectors_chunk_id", "knowledge_vectors", ["chunk_id"])
    op.create_index("ix_knowledge_vectors_model", "knowledge_vectors", ["model"])
    op.create_table(
        "knowledge_gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["knowledge_sources.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_knowledge_gaps_state", "knowledge_gaps", ["state"])
    op.create_table(
        "gap_asks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gap_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["gap_id"], ["knowledge_gaps.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gap_asks_gap_id", "gap_asks", ["gap_id"])
    op.create_index("ix_gap_asks_contact_id", "gap_asks", ["contact_id"])
    op.create_index("ix_gap_asks_asked_at", "gap_asks", ["asked_at"])
    # Plain ADD COLUMNs: no table copy, on SQLite and PostgreSQL alike.
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("away_sent_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("knowledge", sa.Text(), nullable=True))
    statements = POSTGRES_FTS if op.get_bind().dialect.name == "postgresql" else SQLITE_FTS
    for statement in statements:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER knowledge_fts_{trigger}")
        op.execute("DROP TABLE knowledge_fts")
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.drop_column("knowledge")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("away_sent_at")
    op.drop_table("gap_asks")
    op.drop_table("knowledge_gaps")
    op.drop_table("knowledge_vectors")
    op.drop_table("knowledge_chunks")
    op.drop_table("knowledge_sources")
