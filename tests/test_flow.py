"""The flow endpoint: a flow builder's OpenRouter request, answered by Switchboard's pipeline."""

import json
from datetime import timedelta

import pytest

from tests.support.fakes import CHAT_PATH, FIXTURE_ERRORS
from tests.support.flows import CUSTOMER, GUIDE_BODY, OPENROUTER_KEY, model_requests, rows
from tests.support.replies import FLOW_MARKER_ASK as MARKER_ASK
from webapp import catalog, contacts, prompts, settings
from webapp.api.flow import STATUS_OF_KIND
from webapp.extensions import db
from webapp.models import Contact, Message, utcnow
from webapp.replies import delivery
from webapp.troubleshooting import trouble

DEEP_BODY = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
STATUS = STATUS_OF_KIND | {"upstream_unavailable": 502, "bad_response": 502}


def test_the_guides_exact_body_gets_an_answer_in_openrouters_shape(ask, whatsapp, fake_openrouter):
    fake_openrouter.reply("Yes, from 8 to 14.", prompt_tokens=31, completion_tokens=7, cost=0.0002)
    response = ask(GUIDE_BODY)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["choices"][0]["message"]["content"] == "Yes, from 8 to 14."
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["model"] == "openai/gpt-4o-mini" and answer["id"].startswith("gen-")
    assert answer["usage"] == {
        "prompt_tokens": 31, "completion_tokens": 7, "total_tokens": 38, "cost": 0.0002,
    }  # fmt: skip
    [sent] = model_requests(fake_openrouter)
    system, *rest = GUIDE_BODY["messages"]
    assert sent["model"] == "openai/gpt-4o-mini"
    assert sent["messages"] == [{**system, "content": system["content"] + MARKER_ASK}, *rest]
    [row] = rows(whatsapp)
    assert (row.channel, row.status, row.model_used, row.cost) == (
        "flow",
        "ok",
        answer["model"],
        0.0002,
    )


def test_the_answer_names_the_model_that_really_answered(ask, fake_openrouter):
    fake_openrouter.reply("Hello", model="openai/gpt-4o-mini-2024-07-18")
    assert ask(GUIDE_BODY).get_json()["model"] == "openai/gpt-4o-mini-2024-07-18"


def test_swapping_the_model_is_changing_one_word(ask, fake_openrouter):
    fake_openrouter.echo()
    ask(GUIDE_BODY | {"model": "anthropic/claude-sonnet-4-6"})
    [sent] = model_requests(fake_openrouter)
    assert sent["model"] == "anthropic/claude-sonnet-4-6" and "models" not in sent


@pytest.mark.parametrize("named", [{"model": "default"}, {}], ids=["default", "omitted"])
def test_default_or_no_model_asks_the_default_model(ask, whatsapp, fake_openrouter, named):
    with whatsapp.app_context():
        catalog.make_default("openai/gpt-4o")
    fake_openrouter.echo()
    body = {"messages": GUIDE_BODY["messages"]} | named
    assert ask(body).status_code == 200
    assert model_requests(fake_openrouter)[0]["model"] == "openai/gpt-4o"


def test_the_stored_prompt_is_put_first_when_the_body_has_no_system_message(
    ask, whatsapp, fake_openrouter
):
    with whatsapp.app_context():
        prompts.save_version("You answer for Bella's Bakery, in Dutch.", author="owner")
    fake_openrouter.echo()
    ask({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Open?"}]})
    [sent] = model_requests(fake_openrouter)
    system, asked = sent["messages"]
    assert system["content"].startswith("You answer for Bella's Bakery, in Dutch.\n\n")
    assert system["content"].endswith(MARKER_ASK)
    assert asked == {"role": "user", "content": "Open?"}


def test_a_system_message_in_the_body_is_used_instead_of_the_stored_prompt(
    ask, whatsapp, fake_openrouter
):
    with whatsapp.app_context():
        prompts.save_version("The stored prompt.", author="owner")
    fake_openrouter.echo()
    ask(GUIDE_BODY)
    [sent] = model_requests(fake_openrouter)
    assert [m["content"] for m in sent["messages"] if m["role"] == "system"] == [
        "You are the assistant of Bella's Bakery." + MARKER_ASK
    ]


def test_temperature_top_p_and_max_tokens_reach_the_model(ask, fake_openrouter):
    fake_openrouter.echo()
    ask(GUIDE_BODY | {"temperature": 0.2, "top_p": 0.9, "max_tokens": 64})
    [sent] = model_requests(fake_openrouter)
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.2, 0.9, 64)


def test_models_in_the_body_become_the_route(ask, fake_openrouter):
    fake_openrouter.echo()
    ask(GUIDE_BODY | {"models": ["openai/gpt-4o", "perplexity/sonar"]})
    [sent] = model_requests(fake_openrouter)
    assert sent["model"] == "openai/gpt-4o-mini"
    assert sent["models"] == ["openai/gpt-4o-mini", "openai/gpt-4o", "perplexity/sonar"]


def test_a_model_the_table_does_not_offer_is_refused_with_404_and_nothing_spent(
    ask, fake_openrouter
):
    response = ask(GUIDE_BODY | {"model": "openai/gpt-5-pro"})
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert (error["code"], error["kind"]) == (404, "model_not_found")
    assert "openai/gpt-5-pro" in error["message"] and "Settings" in error["hint"]
    assert model_requests(fake_openrouter) == []


def test_a_disabled_model_is_refused_for_flows(ask, whatsapp, fake_openrouter):
    with whatsapp.app_context():
        catalog.set_role("perplexity/sonar", catalog.DISABLED)
    assert ask(GUIDE_BODY | {"model": "perplexity/sonar"}).status_code == 404


def test_an_available_model_that_is_no_fallback_may_be_named_by_a_flow(
    ask, whatsapp, fake_openrouter
):
    with whatsapp.app_context():
        catalog.set_role("perplexity/sonar", catalog.AVAILABLE)
        assert "perplexity/sonar" not in catalog.fallback_chain()
    fake_openrouter.echo()
    assert ask(GUIDE_BODY | {"model": "perplexity/sonar"}).status_code == 200
    assert model_requests(fake_openrouter)[0]["model"] == "perplexity/sonar"


def test_the_any_model_setting_lets_flows_name_any_catalog_id(ask, whatsapp, fake_openrouter):
    with whatsapp.app_context():
        settings.save({"flow_any_model": "on"}, author="test")
    fake_openrouter.echo()
    assert ask(GUIDE_BODY | {"model": "openai/gpt-5-pro"}).status_code == 200
    assert model_requests(fake_openrouter)[0]["model"] == "openai/gpt-5-pro"


def test_a_customers_memory_is_used_when_user_names_them(ask, whatsapp, fake_openrouter):
    fake_openrouter.reply("We open at 8.")
    ask(GUIDE_BODY | {"user": CUSTOMER})
    fake_openrouter.echo()
    later = [GUIDE_BODY["messages"][0], {"role": "user", "content": "And on Sunday?"}]
    ask({"model": "openai/gpt-4o-mini", "messages": later, "user": "+31612345678"})
    sent = model_requests(fake_openrouter)[-1]
    assert [m["content"] for m in sent["messages"]] == [
        "You are the assistant of Bella's Bakery." + MARKER_ASK,
        "Are you open on Sunday?",
        "We open at 8.",
        "And on Sunday?",
    ]
    # OpenRouter sees a stable id of the customer, never their number.
    first, second = model_requests(fake_openrouter)
    assert first["user"] == second["user"] and first["user"].startswith("sb-")
    assert "31612345678" not in json.dumps(second)


def test_the_exchange_appears_in_the_customers_conversation_via_flow(
    ask, whatsapp, fake_openrouter, admin
):
    fake_openrouter.reply("Yes, from 8 to 14.")
    ask(GUIDE_BODY | {"user": CUSTOMER})
    [contact] = rows(whatsapp, Contact)
    assert contact.phone == "31612345678"
    said = [(m.direction, m.text, m.state, m.channel) for m in rows(whatsapp, Message)]
    assert said == [
        ("in", "Are you open on Sunday?", "answered", "flow"),
        ("out", "Yes, from 8 to 14.", "sent", "flow"),
    ]
    page = admin.get(f"/admin/conversations/{contact.id}").get_data(as_text=True)
    assert page.count("via flow</span>") == 2 and "Yes, from 8 to 14." in page


def test_a_flow_exchange_is_never_answered_again_over_whatsapp(
    ask, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    ask(GUIDE_BODY | {"user": CUSTOMER})
    worker.stop()  # stopping waits for every claimed turn: there must have been none
    assert fake_graph.sent_texts() == []
    assert len(model_requests(fake_openrouter)) == 1


def test_a_question_the_model_could_not_answer_is_marked_failed_in_the_conversation(
    ask, whatsapp, fake_openrouter
):
    fake_openrouter.replay("error_402_requires_more_credits.json", 402)
    ask(GUIDE_BODY | {"user": CUSTOMER})
    [question] = rows(whatsapp, Message)
    assert (question.state, question.error_kind) == ("failed", "no_credits")


def test_a_flow_question_a_crash_left_unanswered_is_marked_failed_by_the_sweep(whatsapp):
    with whatsapp.app_context():
        contact_id, _ = contacts.upsert("31612345678", phone="31612345678")
        for minutes, text in ((16, "Left by a crash"), (1, "Still being answered")):
            at = utcnow() - timedelta(minutes=minutes)
            db.session.add(Message(contact_id=contact_id, direction="in", author="customer",
                                   text=text, state="processing", channel="flow",
                                   created_at=at, updated_at=at))  # fmt: skip
        db.session.commit()
        delivery.sweep()
    states = [(m.text, m.state, m.error_kind) for m in rows(whatsapp, Message)]
    assert states == [
        ("Left by a crash", "failed", "internal"),
        ("Still being answered", "processing", None),
    ]


@pytest.mark.parametrize(("fixture", "expected"), FIXTURE_ERRORS.items())
def test_every_recorded_openrouter_error_keeps_its_status_kind_and_hint(
    ask, whatsapp, fake_openrouter, fixture, expected
):
    _, status, kind = expected
    for _ in range(3):  # transient kinds are tried three times
        fake_openrouter.replay(fixture, status, path=CHAT_PATH)
    response = ask(GUIDE_BODY)
    error = response.get_json()["error"]
    assert (error["kind"], error["hint"]) == (str(kind), trouble(kind).fix)
    assert response.status_code == error["code"] == (status if status >= 400 else STATUS[kind])
    assert OPENROUTER_KEY not in response.get_data(as_text=True)
    assert {row.channel for row in rows(whatsapp)} == {"flow"}


def test_an_unreachable_openrouter_is_a_502_network_error(ask, whatsapp, refused_url):
    with whatsapp.app_context():
        settings.save({"openrouter_base_url": refused_url}, author="test")
    response = ask(GUIDE_BODY)
    assert response.status_code == 502 and response.get_json()["error"]["kind"] == "network"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"model": "openai/gpt-4o-mini", "messages": [', "not valid JSON"),
        ({"model": "openai/gpt-4o-mini"}, "'messages' is missing"),
        ({"messages": []}, "'messages' is missing"),
        ({"messages": [{"role": "customer", "content": "hi"}]}, "messages[0] needs a 'role'"),
        (GUIDE_BODY | {"temperature": "warm"}, "'temperature' must be a number"),
        (GUIDE_BODY | {"models": ["a/b", "c/d", "e/f", "g/h"]}, "3 items or fewer"),
        (DEEP_BODY, "nested too deeply"),
    ],
    ids=[
        "malformed",
        "no messages",
        "empty messages",
        "bad role",
        "bad temperature",
        "4 models",
        "nested 100,000 deep",
    ],
)
def test_a_malformed_body_gets_a_clear_400_and_reaches_no_model(ask, fake_openrouter, body, words):
    response = ask(body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["kind"] == "bad_request" and words in error["message"]
    assert model_requests(fake_openrouter) == []


def test_a_streaming_request_is_refused_with_a_clear_400(ask, fake_openrouter):
    response = ask(GUIDE_BODY | {"stream": True})
    assert response.status_code == 400
    assert "Streaming is not supported" in response.get_json()["error"]["message"]


def test_a_body_over_eight_megabytes_is_refused_with_413(ask, fake_openrouter):
    big = GUIDE_BODY | {"messages": [{"role": "user", "content": "x" * (8 * 2**20)}]}
    response = ask(big)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == 413
    assert model_requests(fake_openrouter) == []


def test_max_tokens_above_the_owners_setting_is_capped_to_it(ask, whatsapp, fake_openrouter):
    fake_openrouter.echo()
    with whatsapp.app_context():
        settings.save({"max_tokens": "300"}, author="test")
    assert ask(GUIDE_BODY | {"max_tokens": 100_000}).status_code == 200
    assert ask(GUIDE_BODY | {"max_tokens": 120}).status_code == 200
    assert [sent["max_tokens"] for sent in model_requests(fake_openrouter)] == [300, 120]
    capped, below = rows(whatsapp)
    assert json.loads(capped.request_body)["max_tokens"] == 300
    assert json.loads(below.request_body)["max_tokens"] == 120


@pytest.mark.parametrize("n", [3, 0, "1", True])
def test_n_other_than_1_is_a_400_saying_only_one_choice_is_supported(ask, fake_openrouter, n):
    response = ask(GUIDE_BODY | {"n": n})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["kind"] == "bad_request" and "'n'" in error["message"]
    assert "only one choice" in error["message"]
    assert model_requests(fake_openrouter) == []


@pytest.mark.parametrize("n", [1, None])
def test_n_of_1_is_answered_with_one_choice(ask, fake_openrouter, n):
    fake_openrouter.reply("Yes, from 8 to 14.")
    response = ask(GUIDE_BODY | {"n": n})
    assert response.status_code == 200 and len(response.get_json()["choices"]) == 1
    [sent] = model_requests(fake_openrouter)
    assert sent.get("n", 1) == 1


def test_the_referer_is_only_ever_the_owners_public_address(ask, whatsapp, fake_openrouter):
    fake_openrouter.echo()
    ask(GUIDE_BODY, Host="attacker.example")
    with whatsapp.app_context():
        settings.save({"public_url": "https://shop.example/"}, author="test")
    ask(GUIDE_BODY, Host="attacker.example")
    unset, configured = [r for r in fake_openrouter.requests if r.path == CHAT_PATH]
    assert "HTTP-Referer" not in unset.headers
    assert configured.headers["HTTP-Referer"] == "https://shop.example"
