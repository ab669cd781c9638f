"""Message templates as Meta lists them, for the fake Graph to host and the tests to send."""

import copy
import json

from tests.support.fake_graph import fixture_bytes
from webapp import settings

WABA_ID = "102290129340398"  # the business account of Meta's documented example


def documented() -> dict:
    """Meta's documented example template (a location header: not sendable from Switchboard)."""
    return json.loads(fixture_bytes("templates_list.json"))["data"][0]


def positional(name="appointment_reminder", language="en_US", category="UTILITY") -> dict:
    """A text header and a body with numbered variables, shaped like Meta's example."""
    template = copy.deepcopy(documented())
    template.update(name=name, language=language, category=category, id=f"9{len(name)}01",
                    parameter_format="POSITIONAL")  # fmt: skip
    template["components"] = [
        {"type": "HEADER", "format": "TEXT", "text": "Booking {{1}}",
         "example": {"header_text": ["B-17"]}},
        {"type": "BODY", "text": "Hello {{1}}, your appointment is on {{2}}. Reply to change it.",
         "example": {"body_text": [["Ana", "Friday 10:00"]]}},
        {"type": "FOOTER", "text": "Lima Dental"},
    ]  # fmt: skip
    return template


def named(name="order_ready", language="pt_BR", category="UTILITY") -> dict:
    """A body with named variables ({{first_name}})."""
    template = positional(name, language, category)
    template["parameter_format"] = "NAMED"
    template["components"] = [
        {"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready for you.",
         "example": {"body_text_named_params": [
             {"param_name": "first_name", "example": "Ana"},
             {"param_name": "order_id", "example": "566701"}]}},
    ]  # fmt: skip
    return template


def rejected(name="summer_sale") -> dict:
    template = positional(name, category="MARKETING")
    template.update(status="REJECTED", rejected_reason="PROMOTIONAL")
    return template


def with_business_account(app, waba_id: str = WABA_ID) -> None:
    with app.app_context():
        settings.save({"whatsapp_business_account_id": waba_id}, author="test")


def add_to_showcase() -> tuple[int, int]:
    """The shop's templates (one approved with a long text, one named, one rejected), with a
    customer whose window is closed: (that customer's id, the approved template's id)."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Contact, WhatsAppTemplate

    long_reminder = positional("bike_service_reminder_with_a_long_name_for_phones", "nl_BE")
    rows = []
    for listed in (long_reminder, named(), rejected()):
        row = WhatsAppTemplate(name=listed["name"], language=listed["language"],
                               status=listed["status"], category=listed["category"],
                               parameter_format=listed["parameter_format"],
                               rejected_reason=listed.get("rejected_reason"),
                               components=json.dumps(listed["components"]))  # fmt: skip
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    closed = db.session.scalar(select(Contact.id).where(Contact.phone == "447700900123"))
    return closed, rows[0].id
