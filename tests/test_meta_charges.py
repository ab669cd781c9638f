"""Meta's side of the cost: the `pricing` object of delivery statuses, one row per message."""

import json
from datetime import date

from sqlalchemy import func, select

from tests.conftest import as_recorded, deliver_together, post_webhook
from tests.support.payloads import fixture
from webapp.extensions import db
from webapp.models import WhatsAppCharge
from webapp.money import card

SENT, DELIVERED, READ = "status_sent.json", "status_delivered.json", "status_read.json"
FREE = "status_delivered_free_service_RECONSTRUCTED.json"
UTILITY = "status_sent_utility_template_RECONSTRUCTED.json"


def charges(app) -> dict[str, tuple]:
    with app.app_context():
        rows = db.session.execute(select(WhatsAppCharge)).scalars()
        return {r.wa_message_id: (r.billable, r.category, r.pricing_model) for r in rows}


def with_pricing(name: str, pricing, wamid: str | None = None) -> bytes:
    body = json.loads(fixture(name))
    status = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    status["pricing"] = pricing
    if wamid:
        status["id"] = wamid
    return json.dumps(body).encode()


def test_the_first_status_carrying_pricing_is_kept_once_per_message(client, whatsapp):
    for name in (SENT, DELIVERED):
        as_recorded(whatsapp, name)
        assert post_webhook(client, fixture(name)).status_code == 200
    # The read of the same message, saying otherwise: the delivered one came first and stays.
    assert post_webhook(client, with_pricing(READ, {"billable": False})).status_code == 200
    assert post_webhook(client, fixture(READ)).status_code == 200
    assert charges(whatsapp) == {
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=": (
            True,
            "marketing",
            "PMP",
        ),
        "wamid.xyzxyz": (True, "service", "CBP"),
    }


def test_a_free_service_message_and_a_billable_template_are_counted_on_the_card(client, whatsapp):
    for name in (FREE, UTILITY, UTILITY):  # a redelivery counts once
        as_recorded(whatsapp, name)
        assert post_webhook(client, fixture(name)).status_code == 200
    assert charges(whatsapp) == {
        "wamid.free-service": (False, "service", "PMP"),
        "wamid.utility-template": (True, "utility", "PMP"),
    }
    with whatsapp.app_context():
        now = card.figures()
    assert (now.meta_billable, now.meta_free) == (1, 1)
    assert (True, "utility", 1) in now.meta and (False, "service", 1) in now.meta
    with whatsapp.app_context():
        assert card.figures(date(2020, 1, 1)).meta == []  # counted in their own month only


def test_unknown_or_malformed_pricing_is_ignored_never_a_500(client, whatsapp):
    as_recorded(whatsapp, FREE)
    odd = [None, "free", [], {}, {"billable": "yes", "category": "utility"},
           {"billable": 1}, {"billable": True, "category": ["x"], "pricing_model": 7}]  # fmt: skip
    for n, pricing in enumerate(odd):
        body = with_pricing(FREE, pricing, f"wamid.odd{n}")
        assert post_webhook(client, body).status_code == 200
    assert charges(whatsapp) == {f"wamid.odd{len(odd) - 1}": (True, None, None)}
    long = {"billable": False, "category": "c" * 500, "pricing_model": "PMP"}
    assert post_webhook(client, with_pricing(FREE, long, "wamid.long")).status_code == 200
    assert charges(whatsapp)["wamid.long"] == (False, "c" * 32, "PMP")


def test_two_statuses_of_one_message_at_the_same_instant_leave_one_charge(whatsapp, live_server):
    """Against the real server: Meta's sent and delivered can arrive together."""
    as_recorded(whatsapp, UTILITY)

    for round_ in range(15):
        wamid = f"wamid.RACE{round_}"
        bodies = [
            with_pricing(UTILITY, {"billable": True, "category": "utility"}, wamid),
            with_pricing(FREE, {"billable": False, "category": "service"}, wamid),
        ]
        assert deliver_together(live_server, bodies) == [200, 200]
    with whatsapp.app_context():
        assert db.session.scalar(select(func.count()).select_from(WhatsAppCharge)) == 15
