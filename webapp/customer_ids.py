"""The id OpenRouter sees for a customer (`user`): the same for every request of that customer,
so prompt caching and abuse tracking work, and no way back to who they are.

It is an HMAC of the customer's contact number in Switchboard's database, keyed with a random
key made once per install and kept in app_state. Not a hash of the phone number: phone numbers
are few enough to hash them all and look the answer up. Not keyed with SECRET_KEY either:
rotating that must not give every customer a new id.
"""

import hashlib
import hmac
import json
import secrets

from . import state
from .extensions import db, dialect_insert
from .models import AppState, utcnow

STATE_NAME = "customer_id_key"
_keys: dict[str, bytes] = {}  # database URL → the install's key (it never changes)


def install_key() -> bytes:
    """The install's key, made on first use. Adds the row to the caller's transaction, so the
    caller's commit keeps it; two processes making one at once keep the first."""
    database = str(db.engine.url)
    if database in _keys:
        return _keys[database]
    stored = state.get(STATE_NAME)
    if stored is None:
        made = json.dumps({"key": secrets.token_hex(32)})
        db.session.execute(
            dialect_insert(AppState)
            .values(name=STATE_NAME, value=made, updated_at=utcnow())
            .on_conflict_do_nothing()
        )
        return bytes.fromhex(state.get(STATE_NAME)["key"])  # cached once surely committed
    _keys[database] = bytes.fromhex(stored["key"])
    return _keys[database]


def user_id(key: bytes, contact_id: int | None) -> str | None:
    """`sb-` and 32 hex digits for a known customer; None when there is none (a playground
    question asked by the owner)."""
    if contact_id is None or not key:
        return None
    digest = hmac.new(key, f"contact:{contact_id}".encode(), hashlib.sha256).hexdigest()
    return f"sb-{digest[:32]}"
