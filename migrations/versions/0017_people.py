"""People: a customer handed to a person ("needs you", why and since when), a team member's
hold that ends by itself (`resume_at`), who of the team wrote a message, the alerts sent to
the team, the business account's message templates, a contact's name from the Business app.

Revision ID: 0017_people
Revises: 0016_vectors_inline
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_people"
down_revision = "0016_vectors_inline"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs: no table copy, on SQLite and PostgreSQL alike.
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resume_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("needs_person_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("needs_person_why", sa.String(length=300), nullable=True))
        batch_op.add_column(
            sa.Column("unanswered_in_row", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("saved_name", sa.String(length=256), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_contacts_needs_person_since"), ["needs_person_since"], unique=False
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_by", sa.String(length=128), nullable=True))
    op.create_table(
        "owner_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("to", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=512), nullable=True),
        sa.Column("wa_message_id", sa.String(length=256), nullable=True),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wa_message_id"),
    )
    with op.batch_alter_table("owner_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_owner_alerts_contact_id"), ["contact_id"])
        batch_op.create_index("ix_owner_alerts_state_id", ["state", "id"])
    op.create_table(
        "whatsapp_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meta_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("parameter_format", sa.String(length=16), nullable=True),
        sa.Column("components", sa.Text(), nullable=False),
        sa.Column("rejected_reason", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "language"),
    )


def downgrade():
    op.drop_table("whatsapp_templates")
    with op.batch_alter_table("owner_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_owner_alerts_state_id")
        batch_op.drop_index(batch_op.f("ix_owner_alerts_contact_id"))
    op.drop_table("owner_alerts")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("sent_by")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_needs_person_since"))
        batch_op.drop_column("saved_name")
        batch_op.drop_column("unanswered_in_row")
        batch_op.drop_column("needs_person_why")
        batch_op.drop_column("needs_person_since")
        batch_op.drop_column("resume_at")
