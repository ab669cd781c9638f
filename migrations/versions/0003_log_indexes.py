"""Request log indexes: each filter of the log page together with the time it is sorted by.

Revision ID: 0003_log_indexes
Revises: 0002_whatsapp
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003_log_indexes"
down_revision = "0002_whatsapp"
branch_labels = None
depends_on = None

# The log page sorts by (created_at, id) and filters on one column at a time; an index on
# (column, created_at) answers "the newest 50 rows where column = x" without sorting anything.
# SQLite appends the rowid (= id) to every index entry, so ties on created_at need no extra column.
INDEXES = [
    ("ix_request_log_status_created", ["status", "created_at"]),
    ("ix_request_log_kind_created", ["error_kind", "created_at"]),
    ("ix_request_log_channel_created", ["channel", "created_at"]),
    ("ix_request_log_model_requested_created", ["model_requested", "created_at"]),
    ("ix_request_log_model_used_created", ["model_used", "created_at"]),
    ("ix_request_log_contact_created", ["contact_id", "created_at"]),
]
# The single-column indexes of 0002 on these columns are prefixes of the new ones.
REPLACED = [
    ("ix_request_log_status", ["status"]),
    ("ix_request_log_error_kind", ["error_kind"]),
    ("ix_request_log_channel", ["channel"]),
    ("ix_request_log_model_requested", ["model_requested"]),
    ("ix_request_log_contact_id", ["contact_id"]),
]


def upgrade():
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        for name, _columns in REPLACED:
            batch_op.drop_index(name)
        for name, columns in INDEXES:
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        for name, _columns in reversed(INDEXES):
            batch_op.drop_index(name)
        for name, columns in REPLACED:
            batch_op.create_index(name, columns, unique=False)
