"""Needs you, Done, Hand to me and the holds a team's reply starts: on the dashboard, the
conversations pages, the worker's holds job and the `contacts needs` / `contacts done` commands."""

import re
from datetime import timedelta

from sqlalchemy import select, update

from tests.conftest import PHONE_NUMBER_ID, post_webhook, wait_for
from tests.support.fake_graph import API_PREFIX
from tests.support.payloads import WINDOW_ERROR, text_delivery
from tests.support.records import add_contact, add_message, ago, text_of, thread_url
from tests.support.replies import CUSTOMER, finished
from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, Message, OwnerAlert, utcnow
from webapp.people import takeover
from webapp.worker.jobs import JOBS

REPLY = "Someone from our team will answer you here shortly."


def waiting_since(app, contact_id: int, since, why: str) -> None:
    with app.app_context():
        db.session.execute(
            update(Contact)
            .where(Contact.id == contact_id)
            .values(paused=True, needs_person_since=since, needs_person_why=why)
        )
        db.session.commit()


def contact_row(app, contact_id: int) -> Contact:
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        db.session.expunge_all()
        return contact


def three_waiting(app) -> dict[str, int]:
    """Bea handed over 3 hours ago, Carl paused with an unanswered message 2 hours ago (after
    the team's last reply), Ana handed over an hour ago; Dan paused and answered: not waiting."""
    ids = {
        name: add_contact(app, f"3161111111{n}", name)
        for n, name in enumerate(["Ana", "Bea", "Carl", "Dan"])
    }
    waiting_since(app, ids["Ana"], ago(hours=1), "Asked for a person: wants a refund")
    waiting_since(app, ids["Bea"], ago(hours=3), "The assistant could not answer twice in a row")
    add_message(app, ids["Carl"], "customer", "earlier", "answered", ago(hours=5))
    add_message(app, ids["Carl"], "human", "Hi Carl", "sent", ago(hours=4))
    add_message(app, ids["Carl"], "customer", "anyone?", "paused", ago(hours=2))
    add_message(app, ids["Carl"], "customer", "hello?", "paused", ago(hours=1))
    add_message(app, ids["Dan"], "customer", "thanks", "paused", ago(hours=2))
    add_message(app, ids["Dan"], "human", "You're welcome", "sent", ago(hours=1))
    with app.app_context():
        db.session.execute(
            update(Contact).where(Contact.id.in_([ids["Carl"], ids["Dan"]])).values(paused=True)
        )
        db.session.commit()
    return ids


def listed(page: str) -> list[str]:
    section = re.search(r'<section class="card needs-you".*?</section>', page, re.S)
    return re.findall(r"<bdi>(\w+)</bdi></a>", section[0]) if section else []


def test_the_dashboard_and_the_list_show_who_needs_you_oldest_first(admin, app):
    ids = three_waiting(app)
    dashboard = admin.get("/admin/").get_data(as_text=True)
    assert listed(dashboard) == ["Bea", "Carl", "Ana"]
    assert "wants a refund" in dashboard and "nobody has answered yet" in dashboard
    page = admin.get("/admin/conversations").get_data(as_text=True)
    assert listed(page) == ["Bea", "Carl", "Ana"]
    rows = re.findall(r'<tr data-contact="(\d+)"(.*?)</tr>', page, re.S)
    marked = [int(contact) for contact, row in rows if "Needs you</span>" in row]
    assert sorted(marked) == sorted([ids["Ana"], ids["Bea"], ids["Carl"]])


def test_with_nobody_waiting_the_dashboard_says_so(admin, app):
    add_contact(app, CUSTOMER, "Ana")
    assert "Nobody is waiting for a person" in text_of(admin.get("/admin/"))
    assert 'class="card needs-you"' not in admin.get("/admin/conversations").get_data(as_text=True)


def test_text_from_customers_and_reasons_is_shown_escaped(admin, app):
    contact = add_contact(app, CUSTOMER, "<b>Ana</b>")
    waiting_since(app, contact, ago(minutes=5), "Asked for a person: <script>x</script>")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<b>Ana</b>" not in page


def test_the_conversation_shows_why_and_done_resumes_the_bot(admin, app):
    contact = add_contact(app, CUSTOMER, "Ana")
    waiting_since(app, contact, ago(minutes=20), "Asked for a person: wants a refund")
    page = text_of(admin.get(thread_url(contact)))
    assert "Needs you since" in page and "wants a refund" in page
    assert "It waits for you to press Done above." in page
    assert "Resume the bot" not in page  # Done is the one button that resumes them
    assert "stays paused for them until you press Done" in page
    response = admin.post(f"{thread_url(contact)}/done", {}, follow_redirects=True)
    assert "Done: the bot answers Ana again" in text_of(response)
    after = contact_row(app, contact)
    assert (after.paused, after.needs_person_since, after.needs_person_why) == (False, None, None)
    assert "Needs you since" not in text_of(response)


def test_hand_to_me_tells_the_customer_pauses_and_alerts_the_team(admin, whatsapp, fake_graph):
    with whatsapp.app_context():
        settings.save({"handoff_reply": REPLY, "owner_numbers": "+31 6 1234 5678"}, author="test")
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=timedelta(hours=2))
    assert "Hand to me" in text_of(admin.get(thread_url(contact)))
    response = admin.post(f"{thread_url(contact)}/hand-to-me", {}, follow_redirects=True)
    assert "Ana is yours" in text_of(response)
    assert fake_graph.sent_texts() == [(CUSTOMER, REPLY, None)]
    after = contact_row(whatsapp, contact)
    assert after.paused and after.resume_at is None
    assert after.needs_person_why == "Handed to you by owner"
    with whatsapp.app_context():
        [sent] = db.session.scalars(select(Message)).all()
        assert (sent.author, sent.sent_by) == ("human", "owner")
        alerts = db.session.scalars(select(OwnerAlert)).all()
        assert [(a.to, a.reason) for a in alerts] == [("31612345678", "Handed to you by owner")]
    assert "Team · owner" in text_of(response)


def test_hand_to_me_outside_the_window_hands_over_without_sending_and_says_so(
    admin, whatsapp, fake_graph
):
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=timedelta(hours=30))
    response = admin.post(f"{thread_url(contact)}/hand-to-me", {}, follow_redirects=True)
    assert "They were not told" in text_of(response)
    assert fake_graph.sent_texts() == []
    assert contact_row(whatsapp, contact).needs_person_since is not None


def test_hand_to_me_whose_message_fails_says_so_and_still_hands_over(admin, whatsapp, fake_graph):
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=timedelta(hours=2))
    fake_graph.queue(400, WINDOW_ERROR, path=f"{API_PREFIX}/{PHONE_NUMBER_ID}/messages")
    response = admin.post(f"{thread_url(contact)}/hand-to-me", {}, follow_redirects=True)
    shown = text_of(response)
    assert "Not sent:" in shown and "Ana is yours: the bot is paused for them." in shown
    assert contact_row(whatsapp, contact).needs_person_why == "Handed to you by owner"


def test_done_lets_the_bot_answer_the_next_message(
    admin, client, whatsapp, worker, fake_openrouter, fake_graph
):
    post_webhook(client, text_delivery(CUSTOMER, "I want a human"))
    wait_for(lambda: finished(whatsapp))
    with whatsapp.app_context():
        contact = db.session.scalar(select(Contact.id))
    assert contact_row(whatsapp, contact).needs_person_since is not None
    admin.get(thread_url(contact))
    admin.post(f"{thread_url(contact)}/done", {})
    fake_openrouter.reply("Happy to help again!")
    post_webhook(client, text_delivery(CUSTOMER, "thanks, one more question"))
    wait_for(lambda: finished(whatsapp, 2))
    assert [body for _, body, _ in fake_graph.sent_texts()][-1] == "Happy to help again!"


def test_a_reply_from_the_admin_holds_the_bot_for_takeover_minutes(admin, whatsapp, fake_graph):
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=timedelta(hours=1))
    admin.get(thread_url(contact))
    response = admin.post(f"{thread_url(contact)}/reply", {"body": "Hi"}, follow_redirects=True)
    after = contact_row(whatsapp, contact)
    assert after.paused
    held = after.resume_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert timedelta(minutes=29) < held <= timedelta(minutes=30)
    assert "unless you reply" in text_of(response)
    assert "The bot answers again at" in text_of(response)


def test_a_reply_to_a_customer_who_needs_you_keeps_them_until_done(admin, whatsapp, fake_graph):
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=timedelta(hours=1))
    waiting_since(whatsapp, contact, ago(minutes=5), "Asked for a person")
    admin.get(thread_url(contact))
    response = admin.post(f"{thread_url(contact)}/reply", {"body": "Hi"}, follow_redirects=True)
    assert "The bot stays paused for them until you press Done." in text_of(response)
    after = contact_row(whatsapp, contact)
    assert after.paused and after.resume_at is None and after.needs_person_since is not None


def test_with_pausing_off_or_takeover_zero_the_reply_does_as_set(admin, whatsapp, fake_graph):
    ana = add_contact(whatsapp, CUSTOMER, "Ana", wrote=timedelta(hours=1))
    bea = add_contact(whatsapp, "31622222222", "Bea", wrote=timedelta(hours=1))
    with whatsapp.app_context():
        settings.save({"pause_on_staff_reply": "off"}, author="test")
    admin.get(thread_url(ana))
    admin.post(f"{thread_url(ana)}/reply", {"body": "Hi"})
    assert not contact_row(whatsapp, ana).paused
    with whatsapp.app_context():
        settings.save({"pause_on_staff_reply": "on", "takeover_minutes": "0"}, author="test")
    admin.post(f"{thread_url(bea)}/reply", {"body": "Hi"})
    after = contact_row(whatsapp, bea)
    assert after.paused and after.resume_at is None  # never by itself
    with whatsapp.app_context():
        assert takeover.resume_due() == 0
    assert contact_row(whatsapp, bea).paused


def test_the_holds_job_ends_a_due_hold_and_leaves_the_others(app):
    due = add_contact(app, CUSTOMER, "Ana")
    later = add_contact(app, "31622222222", "Bea")
    handed = add_contact(app, "31633333333", "Carl")
    with app.app_context():
        takeover.hold_for_team(due, 30)
        takeover.hold_for_team(later, 30)
        db.session.execute(
            update(Contact)
            .where(Contact.id == due)
            .values(resume_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    waiting_since(app, handed, ago(hours=1), "Asked for a person")
    _, holds_job = JOBS["holds"]
    with app.app_context():
        assert holds_job() == 1
    assert not contact_row(app, due).paused
    assert contact_row(app, later).paused and contact_row(app, handed).paused


def test_a_message_after_the_hold_ran_out_is_answered(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.reply("Welcome back!")
    post_webhook(client, text_delivery(CUSTOMER, "hi"))
    wait_for(lambda: finished(whatsapp))
    with whatsapp.app_context():
        contact_id = db.session.scalar(select(Contact.id))
        takeover.hold_for_team(contact_id, 30)
        db.session.commit()
    post_webhook(client, text_delivery(CUSTOMER, "still held?"))
    wait_for(lambda: finished(whatsapp, 2))
    with whatsapp.app_context():
        db.session.execute(update(Contact).values(resume_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    fake_openrouter.reply("Yes, how can I help?")
    post_webhook(client, text_delivery(CUSTOMER, "and now?"))
    wait_for(lambda: finished(whatsapp, 3))
    bodies = [body for _, body, _ in fake_graph.sent_texts()]
    assert bodies == ["Welcome back!", "Yes, how can I help?"]


def test_the_commands_list_who_waits_and_done_resumes(app, runner):
    assert runner.invoke(args=["contacts", "needs"]).output == "Nobody is waiting for a person.\n"
    three_waiting(app)
    result = runner.invoke(args=["contacts", "needs"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split("  ")[1] for line in lines] == ["Bea", "Carl", "Ana"]
    assert lines[2].endswith("+31611111110  Asked for a person: wants a refund")
    done = runner.invoke(args=["contacts", "done", "+31 6 1111 1110"])
    assert done.exit_code == 0, done.output
    assert "Done: the bot answers Ana again" in done.output
    lines = runner.invoke(args=["contacts", "needs"]).output.splitlines()
    assert [line.split("  ")[1] for line in lines] == ["Bea", "Carl"]


def test_done_for_an_unknown_number_fails_in_plain_words(app, runner):
    result = runner.invoke(args=["contacts", "done", "+31 6 9999 9999"])
    assert result.exit_code != 0
    assert "No customer with number or id +31 6 9999 9999" in result.output
