"""Try it: the owner chats with the assistant as a test customer before WhatsApp is connected,
answered by the real worker through the same turns as a customer, and counted as no customer."""

import html
import re
import time

from sqlalchemy import select

from tests.conftest import Browser, wait_for
from tests.support.databases import environment_of
from tests.support.fakes import CHAT_PATH, completion
from tests.support.replies import MARKER_ASK, only_default_model
from tests.support.served import CSRF, Visitor, serving
from tests.support.try_it import answered, chats, openrouter_only
from webapp import contacts, prompts, settings, stats, trials
from webapp.admin import threads
from webapp.extensions import db
from webapp.models import PLAYGROUND, Contact, Message, RequestLog, User
from webapp.troubleshooting import ErrorKind, trouble

PROMPT = "You answer for Bram's Bikes in Ghent. Opening hours 9-18."


def page_text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def bubbles(response) -> list[tuple[str, str]]:
    """(who, text) of each bubble of the test conversation, in page order."""
    found = re.findall(
        r'<li class="bubble from-(\w+)[^"]*"[^>]*>.*?<p class="text">(.*?)</p>',
        response.get_data(as_text=True),
        re.S,
    )
    return [(who, html.unescape(text)) for who, text in found]


def ask(admin, text: str):
    return admin.post("/admin/try", {"message": text})


def test_a_message_is_answered_by_the_worker_with_the_saved_prompt_and_default_model(
    app, admin, fake_openrouter, worker
):
    openrouter_only(app, fake_openrouter.base_url)
    with app.app_context():
        prompts.save_version(PROMPT, "owner")
    fake_openrouter.reply("We open at 9.", cost=0.00042)

    sent = ask(admin, "When do you open?")
    assert sent.status_code == 303 and sent.location.endswith("/admin/try#try-form")
    wait_for(lambda: answered(app))

    page = admin.get("/admin/try")
    assert bubbles(page) == [("customer", "When do you open?"), ("bot", "We open at 9.")]
    meta = re.search(r'<p class="meta answer-meta">(.*?)</p>', page.get_data(as_text=True), re.S)
    assert "openai/gpt-4o-mini" in meta[1] and " ms" in meta[1] and "$0.00042" in meta[1]
    (chat,) = chats(fake_openrouter)
    system, asked = chat["messages"]
    assert system["content"].startswith(PROMPT + "\n\nWhat you know right now:")
    assert system["content"].endswith(MARKER_ASK)
    assert asked == {"role": "user", "content": "When do you open?"}
    assert chat["model"] == "openai/gpt-4o-mini"  # the default, its fallbacks after it


def test_nothing_goes_to_whatsapp_even_when_it_is_connected(
    whatsapp, admin, fake_openrouter, fake_graph, worker
):
    """No send, no blue ticks, no "typing…": the test customer is on the page only."""
    with whatsapp.app_context():
        settings.save({"mark_read": "on", "fallback_reply": "Sorry, later."}, author="test")
    fake_openrouter.reply("We open at 9.")
    ask(admin, "When do you open?")
    wait_for(lambda: answered(whatsapp))
    only_default_model(whatsapp)
    fake_openrouter.replay("error_401_user_not_found.json", 401, path=CHAT_PATH)
    ask(admin, "And tomorrow?")  # fails: the fallback reply is not sent either
    wait_for(lambda: answered(whatsapp, 2))

    assert [text for _, text in bubbles(admin.get("/admin/try"))][1::2] == [
        "We open at 9.",
        "Sorry, later.",
    ]
    assert fake_graph.requests == []


def test_a_three_message_conversation_remembers_the_earlier_exchanges(
    app, admin, fake_openrouter, worker
):
    openrouter_only(app, fake_openrouter.base_url)
    fake_openrouter.echo(every_message=True)
    for count, text in enumerate(["My name is Ana.", "I ride an e-bike.", "What is my name?"], 1):
        ask(admin, text)
        wait_for(lambda: answered(app, count))  # noqa: B023 (called before the loop goes on)

    assert bubbles(admin.get("/admin/try")) == [
        ("customer", "My name is Ana."),
        ("bot", "echo: My name is Ana."),
        ("customer", "I ride an e-bike."),
        ("bot", "echo: My name is Ana. / I ride an e-bike."),
        ("customer", "What is my name?"),
        ("bot", "echo: My name is Ana. / I ride an e-bike. / What is my name?"),
    ]
    assert chats(fake_openrouter)[2]["messages"][1:] == [
        {"role": "user", "content": "My name is Ana."},
        {"role": "assistant", "content": "echo: My name is Ana."},
        {"role": "user", "content": "I ride an e-bike."},
        {"role": "assistant", "content": "echo: My name is Ana. / I ride an e-bike."},
        {"role": "user", "content": "What is my name?"},
    ]


def test_messages_sent_in_a_burst_are_answered_once_as_a_customers_are(
    app, admin, fake_openrouter, worker
):
    openrouter_only(app, fake_openrouter.base_url, merge_window_seconds="1")
    fake_openrouter.echo(every_message=True)
    ask(admin, "Hi")
    ask(admin, "do you repair e-bikes?")
    wait_for(lambda: answered(app, 2))

    assert bubbles(admin.get("/admin/try"))[-1] == ("bot", "echo: Hi\n\ndo you repair e-bikes?")
    assert len(chats(fake_openrouter)) == 1


def test_a_wrong_key_shows_the_error_card_with_its_fix(app, admin, fake_openrouter, worker):
    openrouter_only(app, fake_openrouter.base_url, fallback_reply="Sorry, try again later.")
    only_default_model(app)
    fake_openrouter.replay("error_401_user_not_found.json", 401, path=CHAT_PATH)
    ask(admin, "Hello?")
    wait_for(lambda: answered(app))

    page = admin.get("/admin/try")
    text = page_text(page)
    invalid_key = trouble(ErrorKind.INVALID_KEY)
    card = re.search(r'<li class="try-failure".*?</li>', page.get_data(as_text=True), re.S)[0]
    assert invalid_key.title in card and "invalid_key" in card and 'href="/admin/settings"' in card
    assert invalid_key.fix in text
    # What customers would get meanwhile, said as such.
    assert ("bot", "Sorry, try again later.") in bubbles(page)
    assert "Fallback reply, as customers get it" in text


def test_start_over_empties_the_conversation_and_its_memory(app, admin, fake_openrouter, worker):
    openrouter_only(app, fake_openrouter.base_url)
    fake_openrouter.echo(every_message=True)
    ask(admin, "My name is Ana.")
    wait_for(lambda: answered(app))

    done = admin.post("/admin/try/reset")
    assert done.status_code == 302
    page = admin.get("/admin/try")
    assert bubbles(page) == [] and "No messages yet." in page_text(page)
    assert "Started over" in page_text(page)

    ask(admin, "What is my name?")
    wait_for(lambda: answered(app))
    assert chats(fake_openrouter)[-1]["messages"][1:] == [
        {"role": "user", "content": "What is my name?"}
    ]
    with app.app_context():  # the calls stay in the log, with what they cost
        logged = db.session.scalars(select(RequestLog.channel).order_by(RequestLog.id)).all()
    assert logged == [PLAYGROUND, PLAYGROUND]


def test_start_over_needs_the_forms_token(app, admin):
    ask(admin, "Hello")
    refused = admin.client.post("/admin/try/reset")
    assert refused.status_code == 400
    assert bubbles(admin.get("/admin/try"))[0] == ("customer", "Hello")


def test_every_call_is_logged_with_channel_playground(app, admin, fake_openrouter, worker):
    openrouter_only(app, fake_openrouter.base_url)
    only_default_model(app)
    fake_openrouter.replay("doc_error_503_service_unavailable.json", 503, path=CHAT_PATH)
    fake_openrouter.reply("Yes, we do.")
    ask(admin, "Do you sell helmets?")
    wait_for(lambda: answered(app))

    with app.app_context():
        rows = db.session.execute(
            select(RequestLog.channel, RequestLog.status, RequestLog.error_kind)
            .where(RequestLog.upstream == "openrouter")
            .order_by(RequestLog.id)
        ).all()
    assert rows == [
        (PLAYGROUND, "error", "upstream_unavailable"),
        (PLAYGROUND, "ok", None),
    ]
    assert "after 1 failed attempt" in page_text(admin.get("/admin/try"))
    csv = admin.get("/admin/logs.csv?channel=playground").get_data(as_text=True)
    assert csv.count("\nplayground,") + csv.count(",playground,") >= 2


def test_the_test_customer_is_counted_as_no_customer(app, admin, fake_openrouter, worker):
    openrouter_only(app, fake_openrouter.base_url)
    fake_openrouter.reply("We open at 9.")
    ask(admin, "When do you open?")
    wait_for(lambda: answered(app))

    listing = admin.get("/admin/conversations")
    assert "When do you open?" not in page_text(listing) and "Try it (" not in page_text(listing)
    assert "We open at 9." not in page_text(listing)
    with app.app_context():
        contact = db.session.scalar(select(Contact).where(Contact.channel == PLAYGROUND))
        today = stats.compute().today
        assert (today.messages_in, today.replies_out) == (0, 0)
        assert sum(day.messages_in + day.replies_out for day in stats.per_day()) == 0
        assert threads.last_inbound_at() is None and not threads.any_reply_delivered()
        assert trials.last_messages(20) == []  # nothing to replay on the Compare page
        # No number a customer, a flow or the owner types reaches it.
        assert contacts.find(contact.customer_id) is None
        contact_id = contact.id
    assert admin.get(f"/admin/conversations/{contact_id}").status_code == 404
    dashboard = admin.get("/admin/").get_data(as_text=True)
    assert dashboard.count("<dt>Messages in</dt><dd>0</dd>") == 2  # today, and the 14 days
    assert dashboard.count("<dt>Replies out</dt><dd>0</dd>") == 2


def test_the_test_customers_messages_wait_only_for_the_worker(app, admin):
    """Without a worker the page says plainly that nobody answers, instead of waiting."""
    ask(admin, "Anyone there?")
    page = admin.get("/admin/try")
    assert bubbles(page) == [("customer", "Anyone there?"), ("bot", "typing…")]
    assert "Nobody is answering: the worker is not running." in page_text(page)
    assert 'data-waiting="yes"' in page.get_data(as_text=True)
    with app.app_context():  # not a customer waiting either
        assert threads.waiting_count() == 0


def test_the_page_asks_for_a_key_before_any_is_saved(admin):
    page = page_text(admin.get("/admin/try"))
    assert "No OpenRouter key is saved yet" in page
    assert "No messages yet." in page


def test_an_empty_message_is_refused_next_to_the_field(app, admin):
    page = admin.post("/admin/try", {"message": "   "})
    assert page.status_code == 200
    assert re.search(r'class="field has-error".*?Write a message to send\.', page_text(page))
    with app.app_context():
        assert db.session.scalar(select(Message.id)) is None


def test_the_script_gets_the_conversation_alone(app, admin):
    """What app.js asks for: the conversation with the new message, without the page."""
    sent = admin.client.post(
        "/admin/try",
        data={"csrf_token": admin.csrf, "message": "Hello"},
        headers={"X-Requested-With": "fetch"},
    )
    body = sent.get_data(as_text=True)
    assert sent.status_code == 200
    assert '<div id="try-conversation"' in body and "<html" not in body
    assert bubbles(sent) == [("customer", "Hello"), ("bot", "typing…")]
    polled = admin.client.get("/admin/try/conversation", headers={"X-Requested-With": "fetch"})
    assert bubbles(polled) == bubbles(sent)
    empty = admin.client.post(
        "/admin/try", data={"csrf_token": admin.csrf, "message": ""},
        headers={"X-Requested-With": "fetch"},
    )  # fmt: skip
    assert empty.status_code == 400


def test_each_admin_has_a_test_conversation_of_their_own(app, admin):
    with app.app_context():
        other = User(username="sam")
        other.set_password("another good password")
        db.session.add(other)
        db.session.commit()
    ask(admin, "I am the owner")
    second = Browser(app.test_client())
    assert second.login("sam", "another good password").status_code == 302
    second.get("/admin/try")
    assert bubbles(second.get("/admin/try")) == []
    second.post("/admin/try", {"message": "I am Sam"})
    assert bubbles(second.get("/admin/try")) == [("customer", "I am Sam"), ("bot", "typing…")]
    assert bubbles(admin.get("/admin/try"))[0] == ("customer", "I am the owner")


def test_the_page_needs_a_login(client):
    for url in ("/admin/try", "/admin/try/conversation"):
        assert client.get(url).status_code == 302
    assert client.post("/admin/try/reset").status_code in (302, 400)


def test_the_navigation_links_to_try_it(admin):
    page = admin.get("/admin/")
    assert re.search(
        r'<nav>.*?<a href="/admin/try"[^>]*>Try it</a>', page.get_data(as_text=True), re.S
    )


def test_a_reply_is_kept_before_the_deadline_a_turn_has(app, admin, fake_openrouter, worker):
    """The turn's deadline holds here too: a model slower than 'Answer within' fails the
    turn in time, with the card that says so."""
    openrouter_only(app, fake_openrouter.base_url, answer_within_seconds="10")
    only_default_model(app)
    # Longer than the whole turn may take:
    fake_openrouter.queue(body=completion("Too late."), path=CHAT_PATH, delay=30)
    started = time.monotonic()
    ask(admin, "Are you there?")
    wait_for(lambda: answered(app), timeout=25)
    assert time.monotonic() - started < 15
    assert trouble(ErrorKind.TIMEOUT).title in page_text(admin.get("/admin/try"))


def test_a_message_is_answered_by_the_worker_process_make_run_starts(app, fake_openrouter):
    openrouter_only(app, fake_openrouter.base_url)
    fake_openrouter.reply("Answered by the worker.")
    with serving(environment_of(app), worker=True) as url:
        owner = Visitor(url, {})
        assert owner.sign_in().status_code == 302
        token = CSRF.search(owner.request("GET", "/admin/try").text).group(1)
        form = {"csrf_token": token, "message": "Is anybody there?"}
        assert owner.request("POST", "/admin/try", data=form).status_code == 303

        def shown() -> bool:
            """the answer is on the page"""
            return "Answered by the worker." in owner.request("GET", "/admin/try").text

        wait_for(shown, timeout=30)
    assert chats(fake_openrouter)[0]["messages"][-1] == {
        "role": "user",
        "content": "Is anybody there?",
    }
