"""The webhook fields of a number shared with the WhatsApp Business app (coexistence): what
the owner sends from the app (`smb_message_echoes`), its past chats (`history`) and its
address book (`smb_app_state_sync`). Malformed pieces are skipped, never raised."""

from dataclasses import dataclass
from datetime import datetime

from .whatsapp_errors import trimmed
from .whatsapp_reading import SILENT, dicts, digits, text_of, time_of
from .wire import dig


@dataclass
class AppMessage:
    """A message of the WhatsApp Business app on the same number: an echo (what the business
    just sent from the app) or a message of a past chat shared at onboarding (history)."""

    wa_message_id: str
    customer_id: str  # the customer's number, however Meta wrote it ("+1650…" or "1650…")
    from_business: bool  # an echo always; in history, False for the customer's messages
    type: str
    text: str | None
    timestamp: datetime
    status: str | None  # history only: Meta's history_context.status, lowercased
    phone_number_id: str | None
    raw: dict


@dataclass
class SavedName:
    """A contact of the Business app's address book added, edited (a name) or removed (None)."""

    phone: str
    name: str | None
    phone_number_id: str | None


def echoes(value: dict) -> list[AppMessage]:
    """What the owner sent from the app, one change's worth."""
    number_id = trimmed(dig(value, "metadata", "phone_number_id"))
    found = (_app_message(echo, trimmed(echo.get("to")), True, number_id)
             for echo in dicts(value.get("message_echoes")))  # fmt: skip
    return [echo for echo in found if echo]


def history(value: dict) -> tuple[list[AppMessage], list[dict]]:
    """Past chats, thread by thread, and the errors Meta sends instead when the owner
    declined to share them. A message is the customer's when it is from the thread's
    number; a file's contents come later as `messages` under the same field."""
    number_id = trimmed(dig(value, "metadata", "phone_number_id"))
    business = digits(dig(value, "metadata", "display_phone_number"))
    past, declined = [], []
    for chunk in dicts(value.get("history")):
        declined += dicts(chunk.get("errors"))
        for thread in dicts(chunk.get("threads")):
            customer = trimmed(thread.get("id"))
            for message in dicts(thread.get("messages")):
                sender = digits(message.get("from"))
                mine = sender != digits(customer)
                if sender and (found := _app_message(message, customer, mine, number_id)):
                    past.append(found)
    for message in dicts(value.get("messages")):
        mine = bool(business) and digits(message.get("from")) == business
        customer = trimmed(message.get("to") if mine else message.get("from"))
        if found := _app_message(message, customer, mine, number_id):
            past.append(found)
    return past, declined


def saved_names(value: dict) -> list[SavedName]:
    """The app's address book: a contact added or edited (`add`), or removed."""
    number_id = trimmed(dig(value, "metadata", "phone_number_id"))
    names = []
    for item in dicts(value.get("state_sync")):
        contact = item.get("contact") if isinstance(item.get("contact"), dict) else {}
        phone, action = trimmed(contact.get("phone_number")), trimmed(item.get("action"))
        if item.get("type") != "contact" or not phone or action not in ("add", "remove"):
            continue
        name = trimmed(contact.get("full_name")) or trimmed(contact.get("first_name"))
        if action == "add" and not name:
            continue  # an added contact without a name says nothing to keep
        names.append(SavedName(phone, name if action == "add" else None, number_id))
    return names


def _app_message(
    message: dict, customer: str | None, from_business: bool, number_id: str | None
) -> AppMessage | None:
    message_id = trimmed(message.get("id"))
    if not message_id or not customer or not digits(customer):
        return None  # nothing to dedupe on, or no customer's thread to put it in
    kind = trimmed(message.get("type")) or "unknown"
    part = message.get(kind) if isinstance(message.get(kind), dict) else {}
    status = trimmed(dig(message, "history_context", "status"))
    return AppMessage(
        wa_message_id=message_id,
        customer_id=customer,
        from_business=from_business,
        type=kind,
        text=None if kind in SILENT else text_of(kind, part),
        timestamp=time_of(message.get("timestamp")),
        status=status.lower() if status else None,
        phone_number_id=number_id,
        raw=message,
    )
