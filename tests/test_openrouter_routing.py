"""Being a good OpenRouter client: attribution headers, a customer id that reveals nobody,
provider preferences; as the fake OpenRouter receives them from the worker."""

import hashlib
import re

import pytest

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import text_delivery
from tests.support.replies import finished
from webapp import settings

ALICE, BOB = "31612345678", "4915112345678"


def ask(client, app, fake_openrouter, *senders):
    fake_openrouter.echo()
    for number, sender in enumerate(senders, start=1):
        post_webhook(client, text_delivery(sender, f"question {number}"))
        wait_for(lambda n=number: finished(app, n))
    return [r for r in fake_openrouter.requests if r.path == CHAT_PATH]


def test_requests_name_the_app_and_its_public_address(client, whatsapp, worker, fake_openrouter):
    with whatsapp.app_context():
        settings.save({"public_url": "https://shop.example/"}, author="test")
    [sent] = ask(client, whatsapp, fake_openrouter, ALICE)
    assert sent.headers["HTTP-Referer"] == "https://shop.example"
    assert sent.headers["X-Title"] == "Switchboard"


def test_without_a_public_address_no_referer_is_sent(client, whatsapp, worker, fake_openrouter):
    [sent] = ask(client, whatsapp, fake_openrouter, ALICE)
    assert "HTTP-Referer" not in sent.headers and sent.headers["X-Title"] == "Switchboard"


def test_each_customer_has_a_stable_user_id_that_does_not_reveal_the_number(
    client, whatsapp, worker, fake_openrouter
):
    sent = ask(client, whatsapp, fake_openrouter, ALICE, ALICE, BOB)
    users = [request.json()["user"] for request in sent]
    assert users[0] == users[1] != users[2]
    assert all(re.fullmatch(r"sb-[0-9a-f]{32}", user) for user in users)
    for user in users:
        assert ALICE not in user and BOB not in user
        assert user[3:] not in {hashlib.sha256(n.encode()).hexdigest()[:32] for n in (ALICE, BOB)}


def test_another_install_gives_the_same_customer_another_id(tmp_path, fake_openrouter):
    from tests.conftest import migrated_app
    from webapp import customer_ids

    ids = []
    for name in ("one", "two"):
        app = migrated_app(tmp_path / name)
        with app.app_context():
            ids.append(customer_ids.user_id(customer_ids.install_key(), 1))
    assert ids[0] != ids[1]


def test_by_default_no_provider_preferences_are_sent(client, whatsapp, worker, fake_openrouter):
    [sent] = ask(client, whatsapp, fake_openrouter, ALICE)
    assert "provider" not in sent.json()


def test_provider_sort_and_data_collection_are_sent_as_provider_preferences(
    client, whatsapp, worker, fake_openrouter
):
    with whatsapp.app_context():
        settings.save({"provider_sort": "price", "provider_data_collection": "deny"}, author="t")
    [sent] = ask(client, whatsapp, fake_openrouter, ALICE)
    assert sent.json()["provider"] == {"sort": "price", "data_collection": "deny"}


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("provider_sort", "fastest", "must be one of none, price, throughput, latency"),
        ("provider_data_collection", "maybe", "must be one of allow, deny"),
        ("public_url", "shop.example", "must be an http:// or https:// URL"),
    ],
)
def test_bad_routing_settings_are_refused_and_nothing_changes(runner, name, value, words):
    before = runner.invoke(args=["settings", "get", name]).output
    result = runner.invoke(args=["settings", "set", name, value])
    assert result.exit_code != 0 and words in result.output
    assert runner.invoke(args=["settings", "get", name]).output == before


def test_the_settings_page_offers_the_provider_choices(admin):
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert '<select id="provider_sort" name="provider_sort">' in page
    assert '<option value="throughput">' in page and '<option value="deny">' in page


def test_the_dashboard_gives_meta_the_webhook_url_at_the_public_address(admin, app):
    with app.app_context():
        settings.save({"public_url": "https://shop.example"}, author="test")
    page = admin.get("/admin/").get_data(as_text=True)
    assert ">https://shop.example/webhook/whatsapp</code>" in page
