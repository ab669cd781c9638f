"""Deleting a customer no longer deletes their messages with them, and deleting a message no
longer deletes the replies that quote it: the database refuses the first (a message stored
a moment ago is never taken along with a customer retention thought idle) and unlinks the
second (a reply keeps its text). `contacts forget` deletes the messages itself.

Revision ID: 0011_keep_messages
Revises: 0010_queue
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_keep_messages"
down_revision = "0010_queue"
branch_labels = None
depends_on = None

# SQLite keeps these keys nameless: batch mode names them by this pattern to find them.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
KEYS = (("contact_id", "contacts"), ("reply_to_id", "messages"))


def upgrade():
    _replace_keys({"contact_id": None, "reply_to_id": "SET NULL"})


def downgrade():
    _replace_keys({"contact_id": "CASCADE", "reply_to_id": "CASCADE"})


def _replace_keys(ondelete: dict[str, str | None]) -> None:
    names = _names()
    with op.batch_alter_table("messages", naming_convention=NAMING) as batch_op:
        for column, referred in KEYS:
            batch_op.drop_constraint(names[column], type_="foreignkey")
            batch_op.create_foreign_key(
                f"fk_messages_{column}_{referred}",
                referred,
                [column],
                ["id"],
                ondelete=ondelete[column],
            )


def _names() -> dict[str, str]:
    """The keys' names as the database has them: PostgreSQL's own (messages_contact_id_fkey),
    or the pattern's on SQLite."""
    names = {column: f"fk_messages_{column}_{referred}" for column, referred in KEYS}
    for key in sa.inspect(op.get_bind()).get_foreign_keys("messages"):
        column = key["constrained_columns"]
        if key["name"] and len(column) == 1 and column[0] in names:
            names[column[0]] = key["name"]
    return names
