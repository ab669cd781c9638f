"""Finding the knowledge for a question: all of it while small, else full-text and embeddings."""

import random
import signal

import pytest
from sqlalchemy import delete, func, insert, select

from tests.conftest import wait_for
from tests.support.fake_embeddings import fake_embedding
from tests.support.fakes import EMBEDDINGS_PATH
from tests.support.knowledge import add_bakery_faq, faq_entries, top3_hits
from tests.support.processes import start_worker_process
from webapp import settings
from webapp.clients.openrouter import OpenRouterClient
from webapp.clients.openrouter_errors import OpenRouterError
from webapp.clients.retry import Deadline
from webapp.extensions import db
from webapp.knowledge import embeddings, retrieval, sources, vectors
from webapp.models import KnowledgeChunk, KnowledgeSource, KnowledgeVector, RequestLog
from webapp.snapshot import Snapshot
from webapp.troubleshooting import ErrorKind

MODEL = "openai/text-embedding-3-small"
RETRIEVING = {"knowledge_inline_tokens": "0", "knowledge_chunks": "3"}
HOSTILE = [
    '"',
    'delivery" OR "x',
    "NEAR(delivery sunday, 2)",
    "delivery AND NOT sunday -cake *",
    "<script>alert('hi')</script> delivery",
    "🎂🎂🎂 🍰?",
    "label:text ^delivery {cake}",
    "':* | & ! ( ) <-> cake",
    "",
    "   ",
    "x" * 5000,
    "ünïcödé délivery 日曜日 配達",
]


def snap(app, **values) -> Snapshot:
    with app.app_context():
        if values:
            settings.save(values, author="test")
        return Snapshot.load(app.config)


def add(question: str, answer: str) -> None:
    sources.add_faq(question, answer, author="test")


@pytest.fixture
def bakery(whatsapp):
    """The bakery's FAQ, retrieved three passages at a time, embeddings off."""
    with whatsapp.app_context():
        add_bakery_faq()
    snap(whatsapp, embedding_model="", **RETRIEVING)
    return whatsapp


def calls(fake_openrouter) -> list:
    return [request for request in fake_openrouter.requests if request.path == EMBEDDINGS_PATH]


@pytest.mark.parametrize("question", HOSTILE)
def test_any_customer_text_searches_without_an_error(bakery, question):
    with bakery.app_context():
        found = retrieval.knowledge_for(question, Snapshot.load(bakery.config))
    assert found.whole is False and len(found.passages) <= 3


def test_a_question_that_matches_nothing_gets_no_passages(bakery):
    with bakery.app_context():
        found = retrieval.knowledge_for("zebra xylophone quantum", Snapshot.load(bakery.config))
    assert found.passages == () and found.whole is False


def test_in_a_long_exchange_the_customers_newest_words_count(bakery):
    before = " ".join(f"earlier{n} topic{n}" for n in range(60))  # 120 words of an old exchange
    with bakery.app_context():
        found = retrieval.knowledge_for(f"{before}\nhave you got sourdough loaves today",
                                        Snapshot.load(bakery.config))  # fmt: skip
    assert found.labels[0] == "FAQ › Do you sell sourdough?"


def test_with_no_time_left_the_question_is_not_embedded(bakery, fake_openrouter):
    snap(bakery, embedding_model=MODEL)
    with bakery.app_context():
        embeddings.embed_chunks()
        found = retrieval.knowledge_for(
            "do you deliver on sunday", Snapshot.load(bakery.config), deadline=Deadline(3)
        )
    assert len(calls(fake_openrouter)) == 1  # the chunks' batch only
    assert found.labels[0] == "FAQ › Do you deliver on Sundays?" and "No time" in found.note


def test_small_knowledge_is_given_whole_in_the_same_order_every_time(app):
    with app.app_context():
        add("Do you deliver?", "Yes, within 5 km.")
        add("Are you open on Sundays?", "Sunday 8:00 to 13:00.")
        add("Do you deliver?", "Yes, within 8 km.")  # a new answer: the entry keeps its place
        first = retrieval.knowledge_for("anything at all", Snapshot.load(app.config))
        again = retrieval.knowledge_for("something else", Snapshot.load(app.config))
    assert first == again and first.whole is True
    assert first.labels == ["FAQ › Do you deliver?", "FAQ › Are you open on Sundays?"]
    assert "8 km" in first.passages[0].text


def test_beyond_the_inline_tokens_only_the_best_parts_are_given(app):
    with app.app_context():
        add("Do you deliver on Sundays?", "Yes, 9:00 to 13:00.")
        add("Do you sell sourdough?", "Every day, until noon.")
        tokens = db.session.scalar(select(func.sum(KnowledgeChunk.tokens)))
    whole = snap(app, knowledge_inline_tokens=str(tokens), embedding_model="")
    with app.app_context():
        assert len(retrieval.knowledge_for("sourdough?", whole).passages) == 2
    retrieved = snap(app, knowledge_inline_tokens=str(tokens - 1), knowledge_chunks="1")
    with app.app_context():
        found = retrieval.knowledge_for("any sourdough left?", retrieved)
    assert found.whole is False and found.labels == ["FAQ › Do you sell sourdough?"]


def test_reworded_questions_find_their_faq_entry_by_words(bakery, fake_openrouter):
    with bakery.app_context():
        hits = top3_hits(Snapshot.load(bakery.config), faq_entries())
    assert hits >= 30  # 33 of 42 when measured; see docs/benchmarks.md
    assert calls(fake_openrouter) == []  # no embedding model: no calls


def test_embeddings_find_what_words_miss(whatsapp, fake_openrouter):
    with whatsapp.app_context():
        add("Do you do glutenfree baking?", "Yes, glutenfree loaves on Fridays.")
        add("Where can I park?", "Behind the shop.")
        add("Do you sell coffee?", "Espresso and filter coffee.")
    by_words = snap(whatsapp, knowledge_chunks="1", knowledge_inline_tokens="0",
                    embedding_model="")  # fmt: skip
    with whatsapp.app_context():
        assert retrieval.knowledge_for("gluten free?", by_words).passages == ()
    snap(whatsapp, embedding_model=MODEL)
    with whatsapp.app_context():
        embeddings.embed_chunks()
        found = retrieval.knowledge_for("gluten free?", Snapshot.load(whatsapp.config))
    assert found.labels == ["FAQ › Do you do glutenfree baking?"] and found.by_meaning


def test_reworded_questions_find_their_entry_with_embeddings_each_call_logged_with_its_cost(
    bakery, fake_openrouter
):
    snap(bakery, embedding_model=MODEL)
    with bakery.app_context():
        embeddings.embed_chunks()
        assert embeddings.progress() == embeddings.Progress(MODEL, 42, 42)
        asked = "smallest order you will deliver?"
        retrieval.knowledge_for(asked, Snapshot.load(bakery.config))
        assert top3_hits(Snapshot.load(bakery.config), faq_entries()) >= 30  # 33 of 42 measured
        rows = list(
            db.session.scalars(select(RequestLog).where(RequestLog.operation == "embedding"))
        )
    assert calls(fake_openrouter)[1].json()["input"] == [asked]  # after the one batch
    assert {row.status for row in rows} == {"ok"} and all(row.cost > 0 for row in rows)
    assert len(rows) == 1 + 1 + 42  # the chunks' batch, then a question each
    batch = [row for row in rows if row.channel == "knowledge"]
    assert len(batch) == 1 and batch[0].prompt_tokens > 0 and batch[0].model_requested == MODEL


def test_a_failed_question_embedding_falls_back_to_words_and_shows_on_the_page(
    bakery, fake_openrouter
):
    snap(bakery, embedding_model=MODEL)
    with bakery.app_context():
        embeddings.embed_chunks()
    fake_openrouter.replay("error_402_requires_more_credits.json", 402, path=EMBEDDINGS_PATH)
    with bakery.app_context():
        found = retrieval.knowledge_for("do you deliver on sunday", Snapshot.load(bakery.config))
        progress = embeddings.progress()
        failed = db.session.scalar(select(RequestLog).where(RequestLog.status == "error"))
    assert found.labels[0] == "FAQ › Do you deliver on Sundays?" and not found.by_meaning
    assert "by its words" in found.note
    assert failed.operation == "embedding" and failed.error_kind == ErrorKind.NO_CREDITS
    assert progress.failing.startswith("Finding knowledge by meaning") and progress.failed_at
    with bakery.app_context():
        again = retrieval.knowledge_for("do you deliver on sunday", Snapshot.load(bakery.config))
        assert again.by_meaning and embeddings.progress().failing is None  # working again


def test_a_failing_job_waits_before_trying_again_and_says_why(bakery, fake_openrouter):
    snap(bakery, embedding_model=MODEL)
    fake_openrouter.replay("error_401_user_not_found.json", 401, path=EMBEDDINGS_PATH)
    with bakery.app_context():
        embeddings.embed_chunks()
        embeddings.embed_chunks()  # within the pause after a failure: no call
        progress = embeddings.progress()
    assert len(calls(fake_openrouter)) == 1
    assert progress.done == 0 and "embedding the knowledge" in progress.failing


def test_without_a_key_nothing_is_called_and_the_page_says_to_add_one(app, fake_openrouter):
    with app.app_context():
        add("Do you deliver?", "Yes.")
        embeddings.embed_chunks()
        progress = embeddings.progress()
    assert calls(fake_openrouter) == [] and progress.failing == embeddings.NO_KEY


def test_a_new_embedding_model_recomputes_every_vector(bakery, fake_openrouter):
    snap(bakery, embedding_model=MODEL)
    with bakery.app_context():
        embeddings.embed_chunks()
        settings.save({"embedding_model": "openai/text-embedding-3-large"}, author="test")
        assert embeddings.progress().done == 0
        embeddings.embed_chunks()
        models = db.session.execute(
            select(KnowledgeVector.model, func.count()).group_by(KnowledgeVector.model)
        ).all()
    assert models == [("openai/text-embedding-3-large", 42)]


def test_a_removed_source_leaves_no_vector_and_searches_still_work(bakery, fake_openrouter):
    snap(bakery, embedding_model=MODEL)
    with bakery.app_context():
        embeddings.embed_chunks()
        retrieval.knowledge_for("sourdough", Snapshot.load(bakery.config))  # vectors cached
        db.session.execute(delete(KnowledgeSource).where(KnowledgeSource.name.like("%sourdough%")))
        db.session.commit()
        found = retrieval.knowledge_for("sourdough loaf", Snapshot.load(bakery.config))
        left = db.session.scalar(select(func.count()).select_from(KnowledgeVector))
    assert left == 40 and not any("sourdough" in label for label in found.labels)


def test_among_thousands_of_chunks_the_nearest_by_meaning_comes_first(app):
    rng = random.Random(7)
    words = [f"{a}{b}" for a in ("bake", "flour", "crust", "oven", "sugar") for b in "abcdefgh"]
    texts = [" ".join(rng.choices(words, k=6)) for _ in range(2500)]
    with app.app_context():
        source = KnowledgeSource(name="Catalogue", kind="text", author="test", state="ready")
        db.session.add(source)
        db.session.flush()
        rows = [{"source_id": source.id, "position": i, "label": f"Catalogue, part {i}",
                 "text": text, "tokens": 8} for i, text in enumerate(texts)]  # fmt: skip
        ids = list(db.session.scalars(insert(KnowledgeChunk).returning(KnowledgeChunk.id,
                                      sort_by_parameter_order=True), rows))  # fmt: skip
        embeddings._store(MODEL, ids, [fake_embedding(text, 1536) for text in texts])
        db.session.commit()
        for wanted in (0, 1234, 2499):
            nearest = vectors.nearest(fake_embedding(texts[wanted], 1536), MODEL, 3)
            assert nearest[0] == ids[wanted]


def test_an_embeddings_answer_of_the_wrong_shape_is_a_bad_response(fake_openrouter):
    fake_openrouter.queue(body={"data": [{"embedding": [0.1, 0.2]}]}, path=EMBEDDINGS_PATH)
    client = OpenRouterClient("sk-or-v1-test", fake_openrouter.base_url)
    with pytest.raises(OpenRouterError) as raised:
        client.embed(["one", "two"], MODEL)
    assert raised.value.kind == ErrorKind.BAD_RESPONSE


@pytest.mark.parametrize("values", [[True, 0.2], ["0.1", 0.2], [None, 0.2], [[0.1], 0.2], []])
def test_an_embedding_of_anything_but_numbers_is_a_bad_response(fake_openrouter, values):
    fake_openrouter.queue(body={"data": [{"index": 0, "embedding": values}]},
                          path=EMBEDDINGS_PATH)  # fmt: skip
    client = OpenRouterClient("sk-or-v1-test", fake_openrouter.base_url)
    with pytest.raises(OpenRouterError) as raised:
        client.embed(["one"], MODEL)
    assert raised.value.kind == ErrorKind.BAD_RESPONSE and "not a list of numbers" in str(
        raised.value
    )


def test_the_worker_process_embeds_the_knowledge(bakery, fake_openrouter):
    snap(bakery, embedding_model=MODEL)
    process = start_worker_process(bakery)
    try:

        def embedded():
            with bakery.app_context():
                return embeddings.progress().done == 42

        wait_for(embedded, timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    with bakery.app_context():
        logged = db.session.scalar(select(RequestLog).where(RequestLog.operation == "embedding"))
    assert logged.channel == "knowledge" and logged.cost > 0
