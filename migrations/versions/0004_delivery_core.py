"""Delivery core: turns with leases, statuses that arrive early, app state apart from settings.

The messages table becomes the queue: a message waits as `received` until a turn takes it.
Messages a stopped worker left half done are handed back, so the new worker answers them.

Revision ID: 0004_delivery_core
Revises: 0003_log_indexes
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_delivery_core"
down_revision = "0003_log_indexes"
branch_labels = None
depends_on = None

OLD_GRAPH = "https://graph.facebook.com/v21.0"  # the default until now; v20.0 retired 2026-09
NEW_GRAPH = "https://graph.facebook.com/v25.0"
# Every timestamp column: timezone-aware on PostgreSQL (SQLite keeps UTC wall times as before).
TIMESTAMPS = {
    "users": ["created_at"],
    "login_attempts": ["at"],
    "settings": ["updated_at"],
    "ai_models": ["created_at"],
    "prompt_versions": ["created_at"],
    "contacts": ["created_at", "last_inbound_at"],
    "messages": ["created_at", "updated_at"],
    "request_log": ["created_at"],
}


def upgrade():
    op.create_table(
        "app_state",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.execute(
        "INSERT INTO app_state (name, value, updated_at) "
        "SELECT substr(name, 7), value, updated_at FROM settings WHERE name LIKE 'state:%'"
    )
    op.execute("DELETE FROM settings WHERE name LIKE 'state:%'")
    op.execute(
        sa.text("UPDATE settings SET value = :new WHERE name = 'whatsapp_api_base_url' AND value = :old")
        .bindparams(new=NEW_GRAPH, old=OLD_GRAPH)
    )

    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    # One open turn per customer: the database itself refuses a second one.
    op.create_index(
        "ix_turns_open_contact",
        "turns",
        ["contact_id"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index("ix_turns_state_lease", "turns", ["state", "lease_until"])

    op.create_table(
        "pending_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wa_message_id", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pending_statuses_wa_message_id", "pending_statuses", ["wa_message_id"])
    op.create_index("ix_pending_statuses_created_at", "pending_statuses", ["created_at"])

    # SQLite cannot add a foreign key in place: the table is copied once (batch mode).
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("turn_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_messages_turn_id_turns", "turns", ["turn_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_messages_turn_id", ["turn_id"], unique=False)
        batch_op.drop_column("attempts")
        batch_op.drop_column("claimed_at")
    # Work the old worker left half done: answered again, or (a send cut off) never resent.
    op.execute("UPDATE messages SET state = 'received' WHERE direction = 'in' AND state = 'processing'")
    op.execute(
        "UPDATE messages SET state = 'unknown' WHERE direction = 'out' AND state = 'sending'"
    )

    if op.get_bind().dialect.name == "postgresql":
        for table, columns in TIMESTAMPS.items():
            for column in columns:
                op.alter_column(
                    table,
                    column,
                    type_=sa.DateTime(timezone=True),
                    postgresql_using=f"{column} AT TIME ZONE 'UTC'",
                )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in TIMESTAMPS.items():
            for column in columns:
                op.alter_column(
                    table,
                    column,
                    type_=sa.DateTime(),
                    postgresql_using=f"{column} AT TIME ZONE 'UTC'",
                )
    op.execute("UPDATE messages SET state = 'failed' WHERE direction = 'out' AND state = 'unknown'")
    op.execute("UPDATE messages SET state = 'sending' WHERE direction = 'out' AND state = 'queued'")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
        batch_op.drop_index("ix_messages_turn_id")
        batch_op.drop_constraint("fk_messages_turn_id_turns", type_="foreignkey")
        batch_op.drop_column("turn_id")
    op.drop_index("ix_pending_statuses_created_at", table_name="pending_statuses")
    op.drop_index("ix_pending_statuses_wa_message_id", table_name="pending_statuses")
    op.drop_table("pending_statuses")
    op.drop_index("ix_turns_state_lease", table_name="turns")
    op.drop_index("ix_turns_open_contact", table_name="turns")
    op.drop_table("turns")
    op.execute(
        sa.text("UPDATE settings SET value = :old WHERE name = 'whatsapp_api_base_url' AND value = :new")
        .bindparams(new=NEW_GRAPH, old=OLD_GRAPH)
    )
    op.execute(
        "INSERT INTO settings (name, value, updated_at) "
        "SELECT 'state:' || name, value, updated_at FROM app_state"
    )
    op.drop_table("app_state")
