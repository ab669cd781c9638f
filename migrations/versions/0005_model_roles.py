"""Model roles: one `role` column (default, fallback, available, disabled) replaces the
`enabled` and `is_default` flags, so no model is a fallback unless the owner says so.

Until now every enabled model was a fallback, and the seven starting models were all enabled:
one failing cheap model could hand a customer's question to the most expensive one. Rows map
like this:

- the default stays the default; a disabled row stays disabled;
- of the seven starting models that are enabled and not the default, the two cheapest become
  fallbacks, the others `available` (usable by flows and trials, never a silent fallback);
- a model the owner added is `available`: adding one used to make it a fallback by itself,
  which is exactly what the owner never chose.

Revision ID: 0005_model_roles
Revises: 0004_delivery_core
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_model_roles"
down_revision = "0004_delivery_core"
branch_labels = None
depends_on = None

# Dollars per million prompt and completion tokens, from OpenRouter's catalog when this was
# written. A migration cannot ask the network, so "cheapest" is decided from these; the
# Models page shows the live prices after the first Check model IDs.
STARTING_PRICES = {
    "openai/gpt-4o-mini": (0.15, 0.60),
    "openai/gpt-4o": (2.50, 10.00),
    "anthropic/claude-sonnet-4-6": (3.00, 15.00),
    "google/gemini-3.5-flash": (0.50, 3.00),
    "mistralai/mistral-small-latest": (0.10, 0.30),
    "perplexity/sonar": (1.00, 1.00),
    "meta-llama/llama-3.3-70b-instruct": (0.13, 0.40),
}
FALLBACKS = 2


def _blended(model_id: str) -> float:
    """A WhatsApp exchange reads about three tokens for each one it writes."""
    prompt, completion = STARTING_PRICES[model_id]
    return 3 * prompt + completion


def roles_for(rows) -> dict[int, str]:
    """(id, model_id, enabled, is_default) rows in table order → the role of each id."""
    roles, default_seen = {}, False
    for row_id, _model_id, enabled, is_default in rows:
        if is_default and not default_seen:
            roles[row_id], default_seen = "default", True
        else:
            roles[row_id] = "available" if enabled else "disabled"
    seeded = [(row_id, model_id) for row_id, model_id, *_ in rows
              if roles[row_id] == "available" and model_id in STARTING_PRICES]  # fmt: skip
    for row_id, _model_id in sorted(seeded, key=lambda row: _blended(row[1]))[:FALLBACKS]:
        roles[row_id] = "fallback"
    return roles


def upgrade():
    with op.batch_alter_table("ai_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, model_id, enabled, is_default FROM ai_models ORDER BY position, id")
    ).all()
    for row_id, role in roles_for(rows).items():
        bind.execute(
            sa.text("UPDATE ai_models SET role = :role WHERE id = :id"), {"role": role, "id": row_id}
        )
    with op.batch_alter_table("ai_models", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column("enabled")
        batch_op.drop_column("is_default")
    # At most one default, kept by the database itself: two admins choosing a default at the
    # same moment cannot leave two.
    op.create_index(
        "ix_ai_models_one_default",
        "ai_models",
        ["role"],
        unique=True,
        sqlite_where=sa.text("role = 'default'"),
        postgresql_where=sa.text("role = 'default'"),
    )


def downgrade():
    op.drop_index("ix_ai_models_one_default", table_name="ai_models")
    with op.batch_alter_table("ai_models", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE ai_models SET is_default = (role = 'default'), enabled = (role <> 'disabled')")
    with op.batch_alter_table("ai_models", schema=None) as batch_op:
        batch_op.alter_column("enabled", existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column("is_default", existing_type=sa.Boolean(), server_default=None)
        batch_op.drop_column("role")
