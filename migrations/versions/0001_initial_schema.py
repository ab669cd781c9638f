"""Initial schema: admins, sign-in throttling, settings, the model table and prompt versions.

Seeds the seven models of the starting table (gpt-4o-mini the default) and the first prompt.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

STARTING_MODELS = (
    ("openai/gpt-4o-mini", "GPT-4o mini (OpenAI), fast and cheap"),
    ("openai/gpt-4o", "GPT-4o (OpenAI)"),
    ("anthropic/claude-sonnet-4-6", "Claude Sonnet 4.6 (Anthropic)"),
    ("google/gemini-3.5-flash", "Gemini 3.5 Flash (Google)"),
    ("mistralai/mistral-small-latest", "Mistral Small (Mistral)"),
    ("perplexity/sonar", "Sonar (Perplexity), answers with web search"),
    ("meta-llama/llama-3.3-70b-instruct", "Llama 3.3 70B Instruct (Meta)"),
)
INITIAL_PROMPT = "You are a helpful support assistant. Answer briefly."


def upgrade():
    models = op.create_table(
        "ai_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_id"),
    )
    with op.batch_alter_table("ai_models") as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_models_position"), ["position"], unique=False)

    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_attempts") as batch_op:
        batch_op.create_index("ix_login_attempts_address_at", ["address", "at"], unique=False)
        batch_op.create_index("ix_login_attempts_username_at", ["username", "at"], unique=False)

    prompts = op.create_table(
        "prompt_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("restored_from_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["restored_from_id"], ["prompt_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )

    now = datetime.now(UTC)
    op.bulk_insert(
        models,
        [
            {
                "model_id": model_id,
                "label": label,
                "enabled": True,
                "is_default": position == 1,
                "position": position,
                "created_at": now,
            }
            for position, (model_id, label) in enumerate(STARTING_MODELS, start=1)
        ],
    )
    op.bulk_insert(
        prompts,
        [{"text": INITIAL_PROMPT, "author": "setup", "note": "starting prompt", "created_at": now}],
    )


def downgrade():
    op.drop_table("users")
    op.drop_table("settings")
    op.drop_table("prompt_versions")
    op.drop_table("login_attempts")
    op.drop_table("ai_models")
