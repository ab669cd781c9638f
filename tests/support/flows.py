"""The flow endpoint as a flow builder calls it: its URL, a token, the guide's body."""

from sqlalchemy import select

from tests.support.fakes import CHAT_PATH
from webapp.extensions import db
from webapp.models import RequestLog

URL = "/api/v1/chat/completions"


OPENROUTER_KEY = "sk-or-v1-test-key-0000000000000000000000000000"


# The body the guide's flow builder step sends, with its customer message filled in.
GUIDE_BODY = {
    "model": "openai/gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are the assistant of Bella's Bakery."},
        {"role": "user", "content": "Are you open on Sunday?"},
    ],
}


CUSTOMER = "+31 6 1234 5678"


def model_requests(fake_openrouter) -> list[dict]:
    return [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]


def rows(app, model=RequestLog) -> list:
    with app.app_context():
        found = list(db.session.scalars(select(model).order_by(model.id)))
        db.session.expunge_all()
        return found
