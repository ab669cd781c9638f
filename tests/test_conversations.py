"""The conversations pages: list, thread, ticks, pausing, replying as the business, deleting."""

import html
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import PHONE_NUMBER_ID, post_webhook, wait_for
from tests.support.browser import sign_in
from tests.support.fake_graph import API_PREFIX
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import WINDOW_ERROR, delivery, status, text_delivery, text_message
from tests.support.records import add_contact, add_message, ago, text_of, thread_url
from tests.support.replies import finished, only_default_model
from webapp.extensions import db
from webapp.models import Contact, Message, RequestLog
from webapp.troubleshooting import trouble

CUSTOMER = "16505551234"
MESSAGES_PATH = f"{API_PREFIX}/{PHONE_NUMBER_ID}/messages"
XSS = "<script>alert(1)</script>"


def contact_id_of(app, phone=CUSTOMER) -> int:
    with app.app_context():
        return db.session.scalar(select(Contact.id).where(Contact.phone == phone))


def rows(app, model, *where) -> list:
    with app.app_context():
        found = db.session.scalars(select(model).where(*where).order_by(model.id)).all()
        db.session.expunge_all()
        return found


def listed(response) -> list[int]:
    return [
        int(i) for i in re.findall(r'<tr data-contact="(\d+)"', response.get_data(as_text=True))
    ]


def bubbles(response) -> list[tuple[str, str]]:
    """(author class, shown text) of each bubble, in page order."""
    found = re.findall(
        r'<li class="bubble from-(\w+)[^"]*".*?<p class="text">(.*?)</p>',
        response.get_data(as_text=True),
        re.S,
    )
    return [(who, html.unescape(text)) for who, text in found]


def ticks(response) -> list[str]:
    return re.findall(r'class="tick tick-(\w+)"', response.get_data(as_text=True))


def test_the_list_shows_contacts_newest_first_with_their_last_message(admin, app):
    old = add_contact(app, "31611111111", "Ana Lima", wrote=timedelta(hours=3))
    new = add_contact(app, "31622222222", "Bram", wrote=timedelta(minutes=5))
    middle = add_contact(app, "31633333333", None, wrote=timedelta(hours=1))
    add_message(app, old, "customer", "Do you repair e-bikes?", "answered", ago(hours=3))
    add_message(app, old, "bot", "Yes, every weekday.", "read", ago(hours=3, seconds=-5))
    newest_at = ago(minutes=5)
    add_message(app, new, "customer", "Is the shop open today? " * 10, "received", newest_at)
    add_message(app, middle, "customer", None, "answered", ago(hours=1), type="sticker")
    response = admin.get("/admin/conversations")
    assert listed(response) == [new, middle, old]
    page = text_of(response)
    assert "Do you repair e-bikes?" in page
    assert "Is the shop open today? Is the shop" in page
    assert "Is the shop open today? " * 10 not in page  # shortened
    assert "+31633333333 Sticker" in page
    assert newest_at.strftime("%Y-%m-%d %H:%M") in page


def test_the_list_shows_what_the_customer_last_wrote_not_the_reply_after_it(admin, app):
    wrote = ago(hours=2)
    ana = add_contact(app, "31611111111", "Ana", wrote=wrote, paused=True)
    add_message(app, ana, "customer", "Is the sourdough ready?", "answered", wrote)
    add_message(app, ana, "bot", "Yes, from 8 o'clock.", "failed", ago(hours=1, minutes=59))
    add_message(app, ana, "human", "Come by at 9!", "read", ago(hours=1))
    response = admin.get("/admin/conversations")
    row = re.search(rf'<tr data-contact="{ana}".*?</tr>', response.get_data(as_text=True), re.S)
    shown = text_of(row.group(0))
    assert "Is the sourdough ready?" in shown
    assert "from 8 o'clock" not in shown and "Come by at 9!" not in shown
    assert wrote.strftime("%Y-%m-%d %H:%M") in shown  # when the customer wrote
    assert "Reply failed" in shown and "Bot paused" in shown


def test_the_list_marks_contacts_whose_replies_failed(admin, app):
    last_reply_failed = add_contact(
        app, "31611111111", "Last reply failed", wrote=timedelta(days=3)
    )
    add_message(app, last_reply_failed, "customer", "hi", "answered", ago(days=3))
    add_message(app, last_reply_failed, "bot", "hello", "failed", ago(days=3))
    failed_today = add_contact(app, "31622222222", "Failed today", wrote=timedelta(hours=2))
    add_message(app, failed_today, "customer", "hi", "failed", ago(hours=2))
    add_message(app, failed_today, "bot", "Sorry, try later.", "delivered", ago(hours=2))
    recovered = add_contact(app, "31633333333", "Recovered", wrote=timedelta(days=2))
    add_message(app, recovered, "bot", "lost", "failed", ago(days=3))
    add_message(app, recovered, "bot", "fine", "read", ago(days=2))
    response = admin.get("/admin/conversations")
    failing = re.findall(
        r'<tr data-contact="(\d+)" class="failing"', response.get_data(as_text=True)
    )
    assert sorted(map(int, failing)) == sorted([last_reply_failed, failed_today])
    assert response.get_data(as_text=True).count("Reply failed</span>") == 2


def test_the_list_marks_contacts_for_whom_the_bot_is_paused(admin, app):
    paused = add_contact(app, "31611111111", "Paused one", paused=True)
    add_contact(app, "31622222222", "Answered one", wrote=timedelta(hours=2))
    body = admin.get("/admin/conversations").get_data(as_text=True)
    row = re.search(rf'<tr data-contact="{paused}".*?</tr>', body, re.S).group(0)
    assert "Bot paused" in row
    assert body.count("Bot paused</span>") == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [("ana", ["Ana Lima"]), ("LIMA", ["Ana Lima"]), ("+31 622", ["Bram"]), ("5551", ["+15551"])],
)
def test_search_finds_contacts_by_name_or_number(admin, app, query, expected):
    add_contact(app, "31611111111", "Ana Lima")
    add_contact(app, "31622222222", "Bram")
    add_contact(app, "15551", None)
    response = admin.get("/admin/conversations", query_string={"q": query})
    names = re.findall(r'class="contact-name">(.*?)</a>', response.get_data(as_text=True))
    assert names == expected


def test_the_list_is_paged_by_fifty_without_gaps_or_repeats(admin, app):
    same_moment = ago(hours=1)  # ties are ordered by id, so paging cannot skip one
    ids = [add_contact(app, f"3160000{n:04d}", wrote=same_moment) for n in range(55)]
    first = admin.get("/admin/conversations")
    older = re.search(r'href="([^"]+)" rel="next"', first.get_data(as_text=True)).group(1)
    second = admin.get(html.unescape(older))
    assert len(listed(first)) == 50
    assert listed(first) + listed(second) == sorted(ids, reverse=True)
    assert 'rel="next"' not in second.get_data(as_text=True)


def test_the_thread_shows_customer_bot_and_team_bubbles_in_time_order(admin, app):
    contact = add_contact(app, CUSTOMER, "Ana")
    add_message(app, contact, "customer", "Do you have the bike in red?", "answered", ago(hours=2))
    add_message(app, contact, "bot", "Yes, in red and blue.", "read", ago(hours=2, seconds=-3))
    team_at = ago(hours=1)
    add_message(app, contact, "human", "I put one aside for you.", "delivered", team_at)
    add_message(app, contact, "customer", None, "answered", ago(minutes=30), type="location")
    add_message(app, contact, "customer", None, "answered", ago(minutes=20), type="contacts")
    response = admin.get(thread_url(contact))
    assert bubbles(response) == [
        ("customer", "Do you have the bike in red?"),
        ("bot", "Yes, in red and blue."),
        ("team", "I put one aside for you."),
        ("customer", "[location]"),
        ("customer", "[contact card]"),
    ]
    assert '<p class="who">Team</p>' in response.get_data(as_text=True)
    assert team_at.strftime("%Y-%m-%d %H:%M") in text_of(response)


def test_ticks_follow_the_delivery_status_webhooks(
    admin, client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, text_delivery(CUSTOMER, "Are you open?"))
    wait_for(lambda: finished(whatsapp))
    [reply] = rows(whatsapp, Message, Message.direction == "out")
    url = thread_url(contact_id_of(whatsapp))
    assert ticks(admin.get(url)) == ["sent"]
    for state in ("delivered", "read"):
        post_webhook(client, delivery(statuses=[status(reply.wa_message_id, state, CUSTOMER)]))
        assert ticks(admin.get(url)) == [state]


def test_a_failed_status_shows_a_red_tick_with_the_reason_and_its_fix(
    admin, client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, text_delivery(CUSTOMER, "Are you open?"))
    wait_for(lambda: finished(whatsapp))
    [reply] = rows(whatsapp, Message, Message.direction == "out")
    error = {
        "code": 131026,
        "title": "Message undeliverable",
        "error_data": {"details": "Receiver is incapable of receiving this message"},
    }
    post_webhook(
        client, delivery(statuses=[status(reply.wa_message_id, "failed", CUSTOMER, error)])
    )
    response = admin.get(thread_url(contact_id_of(whatsapp)))
    assert ticks(response) == ["failed"]
    page = text_of(response)
    hint = trouble("whatsapp_rejected")
    assert "Message undeliverable — Receiver is incapable of receiving this message" in page
    assert hint.title in page and hint.fix in page


def test_a_message_the_model_could_not_answer_shows_its_hint_inline(
    admin, client, whatsapp, worker, fake_openrouter, fake_graph
):
    only_default_model(whatsapp)
    fake_openrouter.replay("error_401_user_not_found.json", status=401, path=CHAT_PATH)
    post_webhook(client, text_delivery(CUSTOMER, "Hello?"))
    wait_for(lambda: finished(whatsapp))
    body = admin.get(thread_url(contact_id_of(whatsapp))).get_data(as_text=True)
    customer = re.search(r'<li class="bubble from-customer failed".*?</li>', body, re.S).group(0)
    hint = trouble("invalid_key")
    assert hint.title in html.unescape(customer) and hint.fix in html.unescape(customer)
    assert 'href="/admin/settings"' in customer


def test_pausing_from_the_page_stops_answers_until_resumed(
    admin, client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, text_delivery(CUSTOMER, "first"))
    wait_for(lambda: len(fake_graph.sent_texts()) == 1)
    contact = contact_id_of(whatsapp)
    admin.get(thread_url(contact))
    paused_page = admin.post(f"{thread_url(contact)}/pause", follow_redirects=True)
    assert "Bot paused:" in text_of(paused_page) and "Resume the bot" in text_of(paused_page)
    assert rows(whatsapp, Contact)[0].paused is True

    post_webhook(client, text_delivery(CUSTOMER, "second"))
    time.sleep(0.5)  # time enough for the worker to answer, were it going to
    assert len(fake_graph.sent_texts()) == 1
    assert rows(whatsapp, Message, Message.text == "second")[0].state == "paused"

    resumed_page = admin.post(f"{thread_url(contact)}/resume", follow_redirects=True)
    assert "The bot answers this customer." in text_of(resumed_page)
    assert rows(whatsapp, Contact)[0].paused is False
    post_webhook(client, text_delivery(CUSTOMER, "third"))
    wait_for(lambda: len(fake_graph.sent_texts()) == 2)
    assert fake_graph.sent_texts()[-1][1] == "echo: third"


def test_a_reply_inside_the_window_reaches_whatsapp_and_shows_as_the_teams(
    admin, whatsapp, fake_graph
):
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=timedelta(hours=23))
    admin.get(thread_url(contact))
    response = admin.post(
        f"{thread_url(contact)}/reply", {"body": "Hi Ana, it's Bram."}, follow_redirects=True
    )
    assert fake_graph.sent_texts() == [(CUSTOMER, "Hi Ana, it's Bram.", None)]
    [out] = rows(whatsapp, Message)
    assert (out.direction, out.author, out.state, out.reply_to_id) == ("out", "human", "sent", None)
    assert out.wa_message_id.startswith("wamid.FAKE")
    assert bubbles(response) == [("team", "Hi Ana, it's Bram.")]
    assert ticks(response) == ["sent"]
    assert "Sent to Ana." in text_of(response)
    assert out.sent_by == "owner"
    assert rows(whatsapp, Contact)[0].paused is True  # a team reply holds the bot


def test_a_long_manual_reply_is_sent_in_parts(admin, whatsapp, fake_graph):
    contact = add_contact(whatsapp, CUSTOMER, "Ana")
    admin.get(thread_url(contact))
    text = "\n\n".join(f"Paragraph {n}. " + "word " * 300 for n in range(1, 5)).strip()
    admin.post(f"{thread_url(contact)}/reply", {"body": text})
    sent = fake_graph.sent_texts()
    assert len(sent) == 2 and all(len(body) <= 4096 for _, body, _ in sent)
    assert [m.part for m in rows(whatsapp, Message)] == [0, 1]


@pytest.mark.parametrize("wrote", [timedelta(hours=24, minutes=1), None], ids=["24h-ago", "never"])
def test_outside_the_window_the_form_is_disabled_and_a_forced_post_sends_nothing(
    admin, whatsapp, fake_graph, wrote
):
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=wrote)
    page = admin.get(thread_url(contact)).get_data(as_text=True)
    assert re.search(r"<textarea[^>]*disabled", page)
    assert re.search(r'<button type="submit" class="primary" disabled>Send</button>', page)
    rule = trouble("whatsapp_window")
    assert rule.cause in html.unescape(page) and "No approved template yet" in page
    response = admin.post(f"{thread_url(contact)}/reply", {"body": "Hello?"}, follow_redirects=True)
    assert f"Not sent. {rule.cause}" in text_of(response)
    assert fake_graph.requests == []
    assert rows(whatsapp, Message) == []


def test_a_whatsapp_window_error_on_a_manual_reply_shows_the_window_hint(
    admin, whatsapp, fake_graph
):
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=timedelta(hours=2))
    fake_graph.queue(400, WINDOW_ERROR, path=MESSAGES_PATH)
    admin.get(thread_url(contact))
    response = admin.post(f"{thread_url(contact)}/reply", {"body": "Hi"}, follow_redirects=True)
    hint = trouble("whatsapp_window")
    assert f"Not sent: {hint.title}. {hint.fix}" in text_of(response)
    assert ticks(response) == ["failed"]
    [out] = rows(whatsapp, Message)
    assert (out.author, out.state, out.error_code) == ("human", "failed", 131047)
    [log] = rows(whatsapp, RequestLog)
    assert (log.channel, log.upstream, log.error_kind, log.contact_id) == (
        "whatsapp",
        "whatsapp",
        "whatsapp_window",
        contact,
    )


def test_a_manual_reply_is_retried_after_a_transient_failure(admin, whatsapp, fake_graph):
    contact = add_contact(whatsapp, CUSTOMER, "Ana")
    fake_graph.queue(503, {"error": {"message": "Service unavailable", "code": 2}})
    admin.get(thread_url(contact))
    admin.post(f"{thread_url(contact)}/reply", {"body": "Hi"})
    assert fake_graph.sent_texts() == [(CUSTOMER, "Hi", None)]
    assert [(r.attempt, r.status, r.error_kind) for r in rows(whatsapp, RequestLog)] == [
        (1, "error", "whatsapp_unavailable"),
        (2, "ok", None),
    ]
    assert rows(whatsapp, Message)[0].state == "sent"


def test_delete_removes_the_contact_their_messages_and_log_rows(
    admin, client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, text_delivery(CUSTOMER, "forget me"))
    post_webhook(client, text_delivery("4915112345678", "keep me"))
    wait_for(lambda: finished(whatsapp, 2))
    contact = contact_id_of(whatsapp)
    admin.get(thread_url(contact))
    response = admin.post(f"{thread_url(contact)}/delete", follow_redirects=True)
    assert response.request.path == "/admin/conversations"
    assert "Deleted Sheena Nelson with every message, file, log row and trial" in text_of(response)
    assert [c.phone for c in rows(whatsapp, Contact)] == ["4915112345678"]
    assert rows(whatsapp, Message, Message.contact_id == contact) == []
    assert rows(whatsapp, RequestLog, RequestLog.contact_id == contact) == []
    assert len(rows(whatsapp, Message)) == 2  # the other customer's message and reply
    assert len(rows(whatsapp, RequestLog)) == 2  # and their model call and send


def test_the_delete_button_asks_for_confirmation(admin, app):
    contact = add_contact(app, CUSTOMER, "Ana")
    page = admin.get(thread_url(contact)).get_data(as_text=True)
    assert re.search(r'class="danger" data-confirm="Delete Ana with every message', page)


def test_customer_text_and_profile_names_are_rendered_inert(admin, client, whatsapp):
    post_webhook(client, delivery(text_message(CUSTOMER, XSS), name=XSS))
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for url in ("/admin/conversations", thread_url(contact_id_of(whatsapp))):
        page = admin.get(url).get_data(as_text=True)
        assert XSS not in page and escaped in page
        assert "<script" not in page.replace('<script src="/static/app.js" defer></script>', "")


def test_the_pages_need_a_login(client, app):
    contact = add_contact(app, CUSTOMER, "Ana")
    for url in ("/admin/conversations", thread_url(contact)):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", ["/pause", "/resume", "/reply", "/delete"])
def test_every_action_needs_a_login(browser, app, fake_graph, path):
    contact = add_contact(app, CUSTOMER, "Ana")
    response = browser.post(thread_url(contact) + path, {"body": "Hi"})  # a valid CSRF token
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert [(c.paused, c.id) for c in rows(app, Contact)] == [(False, contact)]
    assert rows(app, Message) == [] and fake_graph.requests == []


@pytest.mark.parametrize("path", ["/pause", "/resume", "/reply", "/delete", "/done", "/hand-to-me"])
def test_every_action_needs_the_csrf_token(admin, whatsapp, fake_graph, path):
    contact = add_contact(whatsapp, CUSTOMER, "Ana")
    response = admin.client.post(thread_url(contact) + path, data={"body": "Hi"})
    assert response.status_code == 400
    assert [(c.paused, c.id) for c in rows(whatsapp, Contact)] == [(False, contact)]
    assert rows(whatsapp, Message) == [] and fake_graph.requests == []


def test_the_owner_replies_from_the_thread_in_the_browser(page, live_server, whatsapp, fake_graph):
    from playwright.sync_api import expect

    contact = add_contact(whatsapp, CUSTOMER, "Ana Lima")
    add_message(whatsapp, contact, "customer", "Is my bike ready?", "answered", ago(minutes=10))
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/conversations")
    page.click("text=Ana Lima")
    expect(page.locator(".bubble.from-customer")).to_contain_text("Is my bike ready?")
    page.fill("#body", "Yes, come by after 3 pm.")
    page.click("button:has-text('Send')")
    expect(page.locator(".flash-success")).to_contain_text("Sent to Ana Lima.")
    expect(page.locator(".bubble.from-team")).to_contain_text("Yes, come by after 3 pm.")
    assert fake_graph.sent_texts() == [(CUSTOMER, "Yes, come by after 3 pm.", None)]


RLO, ZWSP = "\u202e", "\u200b"  # right-to-left override, zero-width space
SHOWN_RLO = '<span class="hidden-char" title="right-to-left override">&lt;U+202E&gt;</span>'
SHOWN_ZWSP = '<span class="hidden-char" title="zero width space">&lt;U+200B&gt;</span>'


def test_a_profile_name_with_a_bidi_control_is_isolated_and_the_control_shown(
    admin, client, whatsapp
):
    # Printed as it acts, the override would show the number beside the name reversed.
    name, text = f"Ana{RLO}4321", f"Pay to NL91{ZWSP}ABNA 0417 1643 00"
    post_webhook(client, delivery(text_message(CUSTOMER, text), name=name))
    listing = admin.get("/admin/conversations").get_data(as_text=True)
    assert f'class="contact-name">Ana{SHOWN_RLO}4321</a></bdi>' in listing
    assert '<td>\n            <bdi><a href="/admin/conversations/' in listing
    assert f"Pay to NL91{SHOWN_ZWSP}ABNA" in listing
    thread = admin.get(thread_url(contact_id_of(whatsapp))).get_data(as_text=True)
    assert f"<h1><bdi>Ana{SHOWN_RLO}4321</bdi></h1>" in thread
    assert "<title>Ana&lt;U+202E&gt;4321 · Conversations" in thread
    assert f'<p class="text">Pay to NL91{SHOWN_ZWSP}ABNA 0417 1643 00</p>' in thread
    assert RLO not in listing + thread and ZWSP not in listing + thread


def test_joiners_inside_an_emoji_or_a_persian_word_are_left_to_do_their_work(admin, app):
    words = "Family 👨\u200d👩\u200d👧 and می\u200cخواهم"
    add_message(app, add_contact(app, CUSTOMER, "Ana"), "customer", words, "answered", ago(hours=1))
    assert [("customer", words)] == bubbles(admin.get(thread_url(contact_id_of(app))))


@pytest.mark.parametrize("width", [390, 1280])
def test_a_name_and_thread_with_hidden_characters_fit_the_screen(page, live_server, app, width):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": 800})
    contact = add_contact(app, CUSTOMER, f"{RLO}{ZWSP}" * 12 + "Ana")
    add_message(app, contact, "customer", f"IBAN{ZWSP}" * 30, "answered", ago(minutes=10))
    sign_in(page, live_server)
    for path in ("/admin/conversations", thread_url(contact)):
        page.goto(f"{live_server}{path}")
        expect(page.locator(".hidden-char").first).to_be_visible()
        # The page's own content, not the bar above it: nothing wider than the screen, a
        # table scrolling in its own box at most.
        main = page.locator("main")
        assert main.evaluate("m => m.scrollWidth - m.clientWidth") <= 0, (path, width)
        assert main.evaluate("m => m.getBoundingClientRect().right") <= width, (path, width)
