"""Questions the assistant could not answer: recorded from its signal when a turn's reply is
stored, listed on the Knowledge page, answered there as FAQ entries, gone with the customer."""

import json
import re

import pytest
from sqlalchemy import select

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import fixture_bytes
from tests.support.flows import GUIDE_BODY, model_requests
from tests.support.payloads import text_delivery
from tests.support.processes import start_worker_process
from tests.support.records import add_contact, add_message, ago, text_of
from tests.support.replies import CUSTOMER, finished, log_rows, only_default_model
from tests.support.try_it import answered, openrouter_only
from webapp import catalog_data, contacts, settings
from webapp.data import retention
from webapp.extensions import db
from webapp.knowledge import gaps
from webapp.models import GapAsk, KnowledgeChunk, KnowledgeGap, KnowledgeSource, Message
from webapp.replies.signals import Given

SIGNAL = [Given("cannot_answer")]
GLUTEN = "Do you sell gluten-free bread?"


def with_tools(app) -> None:
    """The catalog fetched (its models take tools), and one model in the chain."""
    with app.app_context():
        catalog_data.store(json.loads(fixture_bytes("models_list_excerpt.json"))["data"])
    only_default_model(app)


def asks(app) -> list[tuple]:
    with app.app_context():
        rows = db.session.execute(
            select(
                KnowledgeGap.key,
                KnowledgeGap.state,
                GapAsk.question,
                GapAsk.channel,
                GapAsk.contact_id,
                GapAsk.message_id,
            )
            .join(GapAsk, GapAsk.gap_id == KnowledgeGap.id)
            .order_by(GapAsk.id)
        ).all()
        return [tuple(row) for row in rows]


def record(app, question, channel="whatsapp", contact_id=None, at=None, given=SIGNAL):
    with app.app_context():
        gaps.record(given, question, channel, contact_id, None)
        if at is not None:
            ask = db.session.scalars(select(GapAsk).order_by(GapAsk.id.desc())).first()
            ask.asked_at = at
        db.session.commit()


def gap_id(app, key: str) -> int:
    with app.app_context():
        return db.session.scalar(select(KnowledgeGap.id).where(KnowledgeGap.key == key))


# Recorded from the turn's answer


def test_a_tool_call_alone_records_the_gap_and_the_customer_still_gets_words(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with_tools(whatsapp)
    fake_openrouter.replay("chat_tool_call_only_RECONSTRUCTED.json")
    fake_openrouter.reply("I will ask the baker and get back to you.")
    post_webhook(client, text_delivery(CUSTOMER, "hey, gluten free bread??"))
    sent = wait_for(fake_graph.sent_texts)
    assert [text for _, text, _ in sent] == ["I will ask the baker and get back to you."]
    wait_for(lambda: finished(whatsapp))
    [(key, state, question, channel, contact_id, message_id)] = asks(whatsapp)
    assert (key, state, question, channel) == (
        "do you sell gluten free bread", "open", GLUTEN, "whatsapp"
    )  # fmt: skip
    with whatsapp.app_context():
        asked = db.session.get(Message, message_id)
        assert (asked.contact_id, asked.text) == (contact_id, "hey, gluten free bread??")
    model_rows = [row for row in log_rows(whatsapp) if row.upstream == "openrouter"]
    assert [row.status for row in model_rows] == ["ok", "ok"]  # the call, then the words


@pytest.mark.parametrize(
    "answer", ["CANNOT_ANSWER\nLet me find out.", "**cannot_answer**\n\nLet me find out."]
)
def test_a_marker_line_is_never_sent_nor_stored_and_the_customers_words_are_the_question(
    client, whatsapp, worker, fake_openrouter, fake_graph, answer
):
    fake_openrouter.reply(answer)
    post_webhook(client, text_delivery(CUSTOMER, "Can I pay with  Bitcoin?"))
    sent = wait_for(fake_graph.sent_texts)
    assert [text for _, text, _ in sent] == ["Let me find out."]
    wait_for(lambda: finished(whatsapp))
    with whatsapp.app_context():
        stored = db.session.scalars(select(Message.text).where(Message.direction == "out")).all()
    assert stored == ["Let me find out."]
    assert [(q, c) for _, _, q, c, _, _ in asks(whatsapp)] == [
        ("Can I pay with Bitcoin?", "whatsapp")
    ]


def test_a_marker_alone_sends_the_fallback_reply(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with whatsapp.app_context():
        settings.save({"fallback_reply": "We will get back to you soon."}, author="test")
    fake_openrouter.reply("CANNOT_ANSWER")
    post_webhook(client, text_delivery(CUSTOMER, "Do you repair tandems?"))
    sent = wait_for(fake_graph.sent_texts)
    assert [text for _, text, _ in sent] == ["We will get back to you soon."]
    wait_for(lambda: len(asks(whatsapp)) == 1)


def test_try_it_questions_count_and_link_to_the_try_it_page(app, admin, fake_openrouter, worker):
    openrouter_only(app, fake_openrouter.base_url)
    fake_openrouter.reply("CANNOT_ANSWER\nI do not know yet.")
    admin.post("/admin/try", {"message": "Do you rent cargo bikes?"})
    wait_for(lambda: answered(app))
    assert [(q, c) for _, _, q, c, _, _ in asks(app)] == [
        ("Do you rent cargo bikes?", "playground")
    ]
    page = admin.get("/admin/knowledge/gaps").get_data(as_text=True)
    assert 'href="/admin/try"' in page and "Do you rent cargo bikes?" in page


def test_a_flow_answer_loses_the_marker_and_its_question_is_recorded(
    ask, whatsapp, fake_openrouter
):
    fake_openrouter.reply("CANNOT_ANSWER\nI will check with the bakery.")
    answer = ask(GUIDE_BODY).get_json()
    assert answer["choices"][0]["message"]["content"] == "I will check with the bakery."
    assert [(q, c, who) for _, _, q, c, who, _ in asks(whatsapp)] == [
        ("Are you open on Sunday?", "flow", None)
    ]


def test_a_flow_that_brings_its_own_tools_is_not_offered_the_signal(ask, whatsapp, fake_openrouter):
    with_tools(whatsapp)
    fake_openrouter.reply("Open from 8.")
    ask({**GUIDE_BODY, "tools": [{"type": "function", "function": {"name": "book"}}]})
    fake_openrouter.reply("Open from 8.")
    ask(GUIDE_BODY)
    own, plain = model_requests(fake_openrouter)
    assert "tools" not in own and own["messages"] == GUIDE_BODY["messages"]
    assert [tool["function"]["name"] for tool in plain["tools"]] == ["cannot_answer"]  # a flow's


# Grouped and counted


def test_the_same_question_in_other_punctuation_counts_up_one_gap(app):
    record(app, "Do you sell gluten-free bread?")
    record(app, "do you sell gluten free   bread")
    record(app, "Parking?")
    with app.app_context():
        open_gaps = gaps.listed(gaps.OPEN)
    assert [(gap.question, gap.asks) for gap in open_gaps] == [
        ("do you sell gluten free bread", 2),  # the latest wording
        ("Parking?", 1),
    ]
    assert gaps.normal_form("  ¿Do YOU…  sell “bread”?! ") == "do you sell bread"


def test_a_signal_with_its_own_question_wins_over_the_customers_words(app):
    record(app, "hi there, one more thing", given=[Given("cannot_answer", GLUTEN)])
    record(app, "Thanks!", given=[])  # no signal: nothing recorded
    assert [q for _, _, q, _, _, _ in asks(app)] == [GLUTEN]


# The page


def test_the_page_lists_open_questions_most_asked_first_escaped_with_their_conversation(app, admin):
    ana = add_contact(app, "31612345678", "Ana")
    record(app, "<script>alert(1)</script> open on Sunday?", contact_id=ana, at=ago(hours=2))
    record(app, "Parking?", at=ago(days=2))
    record(app, "parking", at=ago(days=1))
    page = admin.get("/admin/knowledge/gaps").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; open on Sunday?" in page
    shown = re.findall(r"<h3><bdi>(.*?)</bdi></h3>", page)
    assert shown == ["parking", "&lt;script&gt;alert(1)&lt;/script&gt; open on Sunday?"]
    assert "Asked 2 times" in text_of(page)
    assert f'href="/admin/conversations/{ana}"' in page


def test_answer_it_adds_an_faq_entry_and_closes_the_gap(app, admin):
    record(app, GLUTEN)
    gap = gap_id(app, "do you sell gluten free bread")
    response = admin.post(
        f"/admin/knowledge/gaps/{gap}/answer",
        {f"gap{gap}-question": GLUTEN, f"gap{gap}-answer": "Yes, on Fridays."},
        follow_redirects=True,
    )
    page = text_of(response)
    assert "Added to the FAQ: the assistant will use it from the next question." in page
    assert "No open questions" in page
    assert f"{GLUTEN} — answered" in page
    with app.app_context():
        source = db.session.scalar(select(KnowledgeSource).where(KnowledgeSource.name == GLUTEN))
        assert (source.kind, source.state, source.text) == ("faq", "ready", "Yes, on Fridays.")
        [chunk] = db.session.scalars(
            select(KnowledgeChunk).where(KnowledgeChunk.source_id == source.id)
        )
        assert chunk.text == f"Q: {GLUTEN}\nA: Yes, on Fridays."
        closed = db.session.get(KnowledgeGap, gap)
        assert (closed.state, closed.source_id) == ("answered", source.id)


def test_an_answer_left_empty_is_refused_next_to_the_field_and_nothing_is_saved(app, admin):
    record(app, GLUTEN)
    gap = gap_id(app, "do you sell gluten free bread")
    response = admin.post(
        f"/admin/knowledge/gaps/{gap}/answer",
        {f"gap{gap}-question": GLUTEN, f"gap{gap}-answer": "  "},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<details open>" in page and 'class="error"' in page
    with app.app_context():
        assert db.session.scalar(select(KnowledgeSource.id)) is None
        assert db.session.get(KnowledgeGap, gap).state == "open"


def test_an_answered_question_asked_again_is_open_again_with_the_entry_to_correct(app, admin):
    record(app, GLUTEN)
    gap = gap_id(app, "do you sell gluten free bread")
    with app.app_context():
        gaps.answer(gap, GLUTEN, "Yes, on Fridays.", author="owner")
    record(app, "Do you sell gluten free bread")
    page = admin.get("/admin/knowledge/gaps").get_data(as_text=True)
    assert "asked again since: the FAQ entry did not help" in page
    assert "Yes, on Fridays.</textarea>" in page  # the entry's answer, to correct in place


def test_dismiss_takes_a_question_off_the_list(app, admin):
    record(app, "asdfgh")
    gap = gap_id(app, "asdfgh")
    admin.get("/admin/knowledge/gaps")
    response = admin.post(f"/admin/knowledge/gaps/{gap}/dismiss", follow_redirects=True)
    assert "Dismissed." in text_of(response) and "No open questions" in text_of(response)
    assert asks(app) == []


def test_with_no_gaps_the_page_says_what_comes_here_and_what_to_do(admin):
    page = text_of(admin.get("/admin/knowledge/gaps"))
    assert "No open questions. When a customer asks something" in page


def test_the_dashboard_shows_this_weeks_open_questions_with_the_top_three(app, admin):
    for question, times in (("Parking?", 3), ("Gift cards?", 2), ("Tandems?", 1), ("Vouchers?", 1)):
        for _ in range(times):
            record(app, question)
    record(app, "Old question?", at=ago(days=8))
    page = text_of(admin.get("/admin/"))
    assert "Questions it could not answer this week: 4" in page
    assert "Parking? · 3 times Gift cards? · 2 times" in page
    assert "Old question?" not in page


def test_the_command_lists_open_questions_one_a_line(app, runner):
    record(app, GLUTEN, at=ago(hours=3))
    record(app, GLUTEN)
    record(app, "Parking?")
    output = runner.invoke(args=["knowledge", "gaps"]).output.splitlines()
    assert re.fullmatch(
        rf"2×  {re.escape(GLUTEN)}  \(last asked \d{{4}}-\d\d-\d\d \d\d:\d\d\)", output[0]
    )
    assert output[1].startswith("1×  Parking?  (last asked ")


# No copy of a customer left


def test_forgetting_a_customer_deletes_their_asks_and_gaps_only_they_asked(app):
    ana = add_contact(app, "31612345678", "Ana")
    bob = add_contact(app, "31687654321", "Bob")
    add_message(app, ana, "customer", "Parking?", "answered", ago(hours=1))
    record(app, "Parking?", contact_id=ana)
    record(app, GLUTEN, contact_id=ana)
    record(app, GLUTEN, contact_id=bob)
    record(app, "Tandems?", contact_id=ana)
    with app.app_context():
        gaps.answer(gap_id(app, "tandems"), "Tandems?", "No.", author="owner")
        assert contacts.forget("31612345678")
    assert [(key, state, who) for key, state, _, _, who, _ in asks(app)] == [
        ("do you sell gluten free bread", "open", bob)
    ]
    with app.app_context():
        kept = db.session.scalars(select(KnowledgeGap.key).order_by(KnowledgeGap.key)).all()
    assert kept == ["do you sell gluten free bread", "tandems"]  # an answered one stays


def test_retention_deletes_old_asks_with_the_messages(app):
    with app.app_context():
        settings.save({"retention_days": "30"}, author="test")
    record(app, "Parking?", at=ago(days=40))
    record(app, GLUTEN, at=ago(days=40))
    record(app, GLUTEN, at=ago(days=1))
    with app.app_context():
        retention.purge()
    assert [q for _, _, q, _, _, _ in asks(app)] == [GLUTEN]
    assert gap_id(app, "parking") is None


# The whole path, with the worker as it runs in production


def test_end_to_end_a_worker_process_records_the_gap_and_the_answer_becomes_an_faq_entry(
    client, whatsapp, admin, fake_openrouter, fake_graph
):
    with_tools(whatsapp)
    fake_openrouter.replay("chat_tool_call_only_RECONSTRUCTED.json")
    fake_openrouter.reply("I will ask the baker.")
    process = start_worker_process(whatsapp)
    try:
        post_webhook(client, text_delivery(CUSTOMER, "gluten free bread?"))
        wait_for(fake_graph.sent_texts, timeout=30)
        wait_for(lambda: asks(whatsapp), timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert [text for _, text, _ in fake_graph.sent_texts()] == ["I will ask the baker."]
    page = admin.get("/admin/knowledge/gaps").get_data(as_text=True)
    assert GLUTEN in page
    gap = gap_id(whatsapp, "do you sell gluten free bread")
    admin.post(
        f"/admin/knowledge/gaps/{gap}/answer",
        {f"gap{gap}-question": GLUTEN, f"gap{gap}-answer": "Yes, every Friday."},
    )
    with whatsapp.app_context():
        labels = db.session.scalars(select(KnowledgeChunk.label)).all()
        assert labels == [f"FAQ › {GLUTEN}"]
        assert db.session.get(KnowledgeGap, gap).state == "answered"
    first = model_requests(fake_openrouter)[0]
    assert [tool["function"]["name"] for tool in first["tools"]] == [
        "cannot_answer", "hand_to_person"
    ]  # fmt: skip


def test_trials_strip_the_marker_and_record_no_gap(whatsapp, admin, fake_openrouter, worker):
    fake_openrouter.reply("CANNOT_ANSWER\nNo idea, sorry.")
    data = {"models": ["openai/gpt-4o-mini"], "prompt": "Be brief.", "source": "typed",
            "message": "Gluten-free?", "customer": "", "last_n": "5"}  # fmt: skip
    started = admin.post("/admin/trials", data=data)
    assert started.status_code == 302
    trial_url = started.headers["Location"]

    def done():
        page = text_of(admin.get(trial_url))
        return page if "No idea, sorry." in page else None

    page = wait_for(done)
    assert "CANNOT_ANSWER" not in page
    assert asks(whatsapp) == []


def test_answering_a_question_dismissed_meanwhile_says_so_and_adds_nothing(app, admin):
    record(app, GLUTEN)
    gap = gap_id(app, "do you sell gluten free bread")
    admin.get("/admin/knowledge/gaps")
    admin.post(f"/admin/knowledge/gaps/{gap}/dismiss")
    response = admin.post(
        f"/admin/knowledge/gaps/{gap}/answer",
        {f"gap{gap}-question": GLUTEN, f"gap{gap}-answer": "Yes."},
        follow_redirects=True,
    )
    assert "That question is no longer in the list." in text_of(response)
    with app.app_context():
        assert db.session.scalar(select(KnowledgeSource.id)) is None
