"""Migrations build the schema from nothing and match the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from webapp.extensions import db
from webapp.models import AiModel, PromptVersion


def test_upgrade_on_an_empty_database_seeds_the_model_table_and_prompt(app):
    with app.app_context():
        downgrade(revision="base")
        upgrade()
        rows = db.session.scalars(db.select(AiModel).order_by(AiModel.position)).all()
        assert len(rows) == 7 and rows[0].model_id == "openai/gpt-4o-mini" and rows[0].is_default
        assert db.session.scalar(db.select(PromptVersion)).author == "setup"


def test_models_and_migrations_do_not_drift(app):
    with app.app_context(), db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert diff == []
