"""The Try it page's test conversation, set up and read as its tests need it."""

from sqlalchemy import func, select

from tests.support.fakes import CHAT_PATH
from webapp import settings
from webapp.extensions import db
from webapp.models import PLAYGROUND, Message

KEY = "sk-or-v1-tryit00000000000000000000000000000000000000000000000000c0de"


def openrouter_only(app, base_url: str, **more: str) -> None:
    """An install with an OpenRouter key and nothing of WhatsApp: all Try it needs. Each
    message is its own turn unless a test says otherwise."""
    with app.app_context():
        values = {"openrouter_api_key": KEY, "openrouter_base_url": base_url}
        settings.save({**values, "merge_window_seconds": "0", **more}, author="test")


def answered(app, count: int = 1) -> bool:
    """Whether `count` of the test customer's messages have had their turn end."""
    with app.app_context():
        ended = db.session.scalar(
            select(func.count()).where(
                Message.channel == PLAYGROUND,
                Message.direction == "in",
                Message.state.not_in(("received", "processing")),
            )
        )
        db.session.rollback()
        return ended >= count


def chats(fake_openrouter) -> list[dict]:
    """The chat requests the fake OpenRouter got, as JSON, in order."""
    return [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]
