"""Forgetting a customer reaches every copy of them: the message ids of what was forgotten are
remembered a while (as SHA-256) so a replayed delivery is dropped, and a log row of a message
for another phone number ID names its sender, so forgetting that sender finds it.

The log rows of such messages written before this revision are given their sender from the
message they kept (its `from`).

Revision ID: 0012_forgotten_messages
Revises: 0011_keep_messages
Create Date: 2026-12-09
"""

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0012_forgotten_messages"
down_revision = "0011_keep_messages"
branch_labels = None
depends_on = None

SENDER = sa.text("customer_id IS NOT NULL")
# A body cut short when it was logged is no JSON any more; its sender is still near the start.
FROM = re.compile(r'"(?:from|from_user_id)": "([^"]+)"')


def upgrade():
    op.create_table(
        "forgotten_messages",
        sa.Column("wa_message_hash", sa.String(length=64), nullable=False),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wa_message_hash"),
    )
    op.create_index("ix_forgotten_messages_forgotten_at", "forgotten_messages", ["forgotten_at"])
    op.add_column("request_log", sa.Column("customer_id", sa.String(length=128), nullable=True))
    op.create_index(
        "ix_request_log_customer_id",
        "request_log",
        ["customer_id"],
        sqlite_where=SENDER,
        postgresql_where=SENDER,
    )
    _name_the_senders()


def downgrade():
    op.drop_index("ix_request_log_customer_id", table_name="request_log")
    with op.batch_alter_table("request_log") as batch_op:
        batch_op.drop_column("customer_id")
    op.drop_index("ix_forgotten_messages_forgotten_at", table_name="forgotten_messages")
    op.drop_table("forgotten_messages")


def _name_the_senders() -> None:
    """Rows without a contact whose kept body is a customer's message (a send's or Meta's
    error never has a `from`): the message to another phone number ID."""
    log = sa.table(
        "request_log",
        sa.column("id", sa.Integer),
        sa.column("contact_id", sa.Integer),
        sa.column("upstream", sa.String),
        sa.column("response_body", sa.Text),
        sa.column("customer_id", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(log.c.id, log.c.response_body).where(
            log.c.contact_id.is_(None),
            log.c.upstream == "whatsapp",
            log.c.response_body.like('%"from%'),
        )
    ).all()
    for row_id, body in rows:
        sender = _sender(body)
        if sender:
            bind.execute(sa.update(log).where(log.c.id == row_id).values(customer_id=sender))


def _sender(body: str) -> str | None:
    """The sender's number (as WhatsApp writes it) or user id; None when the body is not a
    customer's message."""
    try:
        message = json.loads(body)
    except ValueError:
        found = FROM.search(body)
        message = {"from": found[1]} if found else None
    if not isinstance(message, dict):
        return None
    sender = message.get("from") or message.get("from_user_id")
    if not isinstance(sender, str) or not sender.strip():
        return None
    return sender.strip().removeprefix("+")[:128]
