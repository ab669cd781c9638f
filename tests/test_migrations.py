"""Migrations build the schema from nothing and match the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from webapp.extensions import db
from webapp.knowledge.schema import include_object
from webapp.models import AiModel, PromptVersion


def test_upgrade_on_an_empty_database_seeds_the_model_table_and_prompt(app):
    with app.app_context():
        downgrade(revision="base")
        upgrade()
        rows = db.session.scalars(db.select(AiModel).order_by(AiModel.position)).all()
        assert (
            len(rows) == 7
            and rows[0].model_id == "openai/gpt-4o-mini"
            and rows[0].role == "default"
        )
        assert db.session.scalar(db.select(PromptVersion)).author == "setup"


def test_models_and_migrations_do_not_drift(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        diff = compare_metadata(context, db.metadata)
        assert diff == []


def test_the_delivery_core_migration_keeps_what_an_install_had(app):
    from sqlalchemy import text

    from webapp import settings, state

    with app.app_context():
        downgrade(revision="0003_log_indexes")
        db.session.execute(
            text(
                "INSERT INTO settings (name, value, updated_at) VALUES "
                "('whatsapp_api_base_url', 'https://graph.facebook.com/v21.0', '2026-11-01'), "
                "('state:key_test', '{\"ok\": true}', '2026-11-01')"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO contacts (id, customer_id, phone, paused, created_at) "
                "VALUES (1, '31600000001', '31600000001', false, '2026-11-01')"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO messages (contact_id, direction, author, type, text, state, part, "
                "attempts, created_at, updated_at) VALUES "
                "(1, 'in', 'customer', 'text', 'half answered', 'processing', 0, 1, "
                "'2026-11-01', '2026-11-01')"
            )
        )
        db.session.commit()
        upgrade()
        assert settings.get("whatsapp_api_base_url") == "https://graph.facebook.com/v25.0"
        assert state.get("key_test") == {"ok": True}
        assert db.session.scalar(text("SELECT state FROM messages")) == "received"


def test_a_custom_graph_base_url_is_left_alone(app):
    from webapp import settings

    with app.app_context():
        settings.save({"whatsapp_api_base_url": "https://bsp.example/v21.0"}, author="test")
        downgrade(revision="0003_log_indexes")
        upgrade()
        assert settings.get("whatsapp_api_base_url") == "https://bsp.example/v21.0"


def test_rebuilding_the_messages_table_keeps_the_rows_that_refer_to_it(app):
    """SQLite changes a table by copying it (0004 and later): the log rows and quoted replies
    that point at its messages are all still there, and still point at them, both ways."""
    from sqlalchemy import text

    rows = [
        "INSERT INTO contacts (id, customer_id, paused, created_at) "
        "VALUES (1, '31600000001', false, '2026-11-01')",
        "INSERT INTO messages (id, contact_id, direction, author, type, state, part, attempts, "
        "created_at, updated_at) VALUES "
        "(1, 1, 'in', 'customer', 'text', 'answered', 0, 1, '2026-11-01', '2026-11-01')",
        "INSERT INTO messages (id, contact_id, direction, author, type, state, part, attempts, "
        "reply_to_id, created_at, updated_at) VALUES "
        "(2, 1, 'out', 'bot', 'text', 'sent', 0, 1, 1, '2026-11-01', '2026-11-01')",
        "INSERT INTO request_log (id, created_at, channel, upstream, contact_id, message_id, "
        "attempt, status) VALUES (1, '2026-11-01', 'whatsapp', 'openrouter', 1, 1, 1, 'ok')",
    ]
    links = (
        "SELECT (SELECT reply_to_id FROM messages WHERE id = 2), "
        "(SELECT message_id FROM request_log WHERE id = 1)"
    )
    with app.app_context():
        downgrade(revision="0003_log_indexes")
        for row in rows:
            db.session.execute(text(row))
        db.session.commit()
        upgrade()
        assert tuple(db.session.execute(text(links)).one()) == (1, 1)
        db.session.commit()
        downgrade(revision="0003_log_indexes")
        assert tuple(db.session.execute(text(links)).one()) == (1, 1)
        db.session.commit()
        upgrade()
