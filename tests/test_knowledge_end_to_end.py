"""The owner's knowledge from start to finish, with the real worker process and the fake
OpenRouter answering chats and embeddings: a menu PDF and an FAQ added on the Knowledge page,
an answer from the FAQ in Try it with the entry it came from, a question the knowledge lacks
found among the unanswered questions, answered there, and the next WhatsApp customer who asks
it answered with that answer."""

import io

from sqlalchemy import select

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH, EMBEDDINGS_PATH, UNSAID
from tests.support.payloads import pdf_bytes, text_delivery
from tests.support.processes import start_worker_process
from tests.support.try_it import answered
from webapp import settings
from webapp.extensions import db
from webapp.knowledge import embeddings
from webapp.models import KnowledgeGap, KnowledgeSource

SUNDAYS = "Do you deliver on Sundays?"
SUNDAY_ANSWER = "Yes: on Sundays we deliver from 10:00 to 14:00, within 5 km of the shop."
MENU = pdf_bytes(
    ["Breads", "Sourdough loaf 6.00", "Rye loaf 5.50"],
    ["Pastries", "Croissant 2.50", "Cinnamon roll 3.00"],
)


def ready(app) -> bool:
    """Every source read, and every part embedded by the embedding model in force."""
    with app.app_context():
        states = db.session.scalars(select(KnowledgeSource.state)).all()
        progress = embeddings.progress()
        db.session.rollback()
    return all(state == "ready" for state in states) and progress.done == progress.total > 0


def try_it(admin, app, text: str, count: int) -> str:
    admin.post("/admin/try", {"message": text})
    wait_for(lambda: answered(app, count), timeout=30)
    return admin.get("/admin/try").get_data(as_text=True)


def test_an_owners_menu_and_faq_answer_customers_and_a_missing_answer_is_found_and_given(
    whatsapp, admin, client, fake_openrouter, fake_graph
):
    # More than a few parts: the parts are picked for each question, by words and by meaning.
    with whatsapp.app_context():
        settings.save({"knowledge_inline_tokens": "0"}, author="test")
    upload = {"file": (io.BytesIO(MENU), "Menu.pdf"), "name": ""}
    admin.post("/admin/knowledge/file", upload, content_type="multipart/form-data")
    admin.post("/admin/knowledge/faq", {"question": SUNDAYS, "answer": SUNDAY_ANSWER})
    admin.post(
        "/admin/knowledge/faq",
        {"question": "Can I order a birthday cake?", "answer": "Yes, two days ahead."},
    )
    fake_openrouter.reads_knowledge()
    worker = start_worker_process(whatsapp)
    try:
        wait_for(lambda: ready(whatsapp), timeout=30)

        page = try_it(admin, whatsapp, "do you deliver on sundays?", 1)
        assert SUNDAY_ANSWER.replace("'", "&#39;") in page
        assert f"Knowledge given: FAQ › {SUNDAYS}" in page

        page = try_it(admin, whatsapp, "Do you sell gluten-free bread?", 2)
        assert UNSAID.replace("'", "&#39;") in page and "CANNOT_ANSWER" not in page
        gaps_page = admin.get("/admin/knowledge/gaps").get_data(as_text=True)
        assert "Do you sell gluten-free bread?" in gaps_page
        with whatsapp.app_context():
            gap = db.session.scalars(select(KnowledgeGap).where(KnowledgeGap.state == "open"))
            gap_id = gap.one().id
        answer = "Yes, gluten-free bread every Friday."
        admin.post(
            f"/admin/knowledge/gaps/{gap_id}/answer",
            {
                f"gap{gap_id}-question": "Do you sell gluten-free bread?",
                f"gap{gap_id}-answer": answer,
            },
        )
        assert (
            "Do you sell gluten-free bread?"
            not in admin.get("/admin/knowledge/gaps").get_data(as_text=True).split("Answered")[0]
        )

        post_webhook(client, text_delivery("31611112222", "gluten free bread, do you sell it?"))
        wait_for(lambda: fake_graph.sent_texts(), timeout=30)
    finally:
        worker.terminate()
        worker.wait(timeout=10)
    assert [text for _, text, _ in fake_graph.sent_texts()] == [answer]
    embedded = [r.json()["input"] for r in fake_openrouter.requests if r.path == EMBEDDINGS_PATH]
    asked = [texts for texts in embedded if len(texts) == 1]
    assert any("gluten free bread, do you sell it?" in texts[0] for texts in asked)
    first = next(r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH)
    assert "Croissant 2.50" in str(first["messages"][0]["content"])  # the menu was read
