"""Knowledge retrieval benchmark: search time at 20,000 chunks, and how often a reworded
question finds its FAQ entry.

(a) Builds a throwaway instance (SQLite in a temporary folder; with DATABASE_URL, or
--postgresql URL, a PostgreSQL server's admin URL, also a fresh database there, dropped after)
holding 20,000 chunks of made-up shop text with 1536-dimension vectors, then times a search
`REPEATS` times for each of: full-text alone, vectors alone (the question's vector already
known), and both (the way a turn does it, the question embedded by a loopback fake
OpenRouter; that call's time is reported apart, since on the real API it is the network's).
(b) Adds the 42-entry bakery FAQ of tests/fixtures/knowledge and counts for how many of its
reworded questions the right entry is among the first three passages, by words alone and by
words and (deterministic fake) embeddings together.

Prints one JSON line per measurement; touches no network beyond loopback.

    .venv/bin/python bench/knowledge_bench.py [--chunks N] [--postgresql URL]
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["ALLOW_PRIVATE_ADDRESSES"] = "on"  # the fake OpenRouter listens on loopback

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bench.databases import BenchDatabase  # noqa: E402
from tests.support.fake_embeddings import fake_embedding  # noqa: E402
from tests.support.fakes import FakeOpenRouter  # noqa: E402
from tests.support.knowledge import add_bakery_faq, faq_entries, top3_hits  # noqa: E402
from webapp import create_app, settings  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.knowledge import embeddings, fulltext, retrieval, vectors  # noqa: E402
from webapp.models import KnowledgeChunk, KnowledgeSource, KnowledgeVector  # noqa: E402
from webapp.snapshot import Snapshot  # noqa: E402

CHUNKS = 20_000
PER_SOURCE = 100  # chunks of one document
WORDS = 120  # a chunk: about 160 tokens of text
DIMENSIONS = 1536  # openai/text-embedding-3-small's
REPEATS = 300
MODEL = "openai/text-embedding-3-small"
KEY = "sk-or-v1-bench-key-00000000000000000000000000000000"


def vocabulary(rng: random.Random) -> list[str]:
    """The FAQ's own words (so questions match some chunks) among made-up ones, shuffled: as
    in a real catalogue, some of a question's words are common and most are not."""
    known = {w.lower() for e in faq_entries() for w in fulltext.WORD.findall(e["answer"])}
    syllables = ["ka", "lo", "mi", "ren", "tus", "bo", "fel", "dra", "qui", "zan", "pe", "or"]
    made_up = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(6000)}
    words = sorted(known | made_up)
    rng.shuffle(words)
    return words


def build(app, chunks: int, rng: random.Random) -> None:
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf: a few words are everywhere
    with app.app_context():
        settings.save({"embedding_model": MODEL, "knowledge_inline_tokens": "8000"}, author="b")
        for first in range(0, chunks, PER_SOURCE):
            source = KnowledgeSource(name=f"Catalogue part {first // PER_SOURCE + 1}", kind="text",
                                     author="bench", state="ready")  # fmt: skip
            db.session.add(source)
            db.session.flush()
            rows = [{"source_id": source.id, "position": index, "tokens": WORDS * 4 // 3,
                     "label": f"{source.name}, part {index + 1}",
                     "text": " ".join(rng.choices(words, weights, k=WORDS))}
                    for index in range(min(PER_SOURCE, chunks - first))]  # fmt: skip
            ids = db.session.scalars(insert(KnowledgeChunk).returning(KnowledgeChunk.id), rows)
            stored = []
            for chunk_id in ids:
                vector = vectors.normalised([rng.gauss(0, 1) for _ in range(DIMENSIONS)])
                stored.append({"chunk_id": chunk_id, "model": MODEL,
                               "bits": vectors.sign_bits(vector),
                               "vector": vectors.packed(vector)})  # fmt: skip
            db.session.execute(insert(KnowledgeVector), stored)
            db.session.commit()


def percentiles(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2)}  # fmt: skip


def timed(call, questions: list[str]) -> list[float]:
    """Each call's wall time. The mean CPU time a call is kept in `cpu`: "ms", this
    thread's own (what the worker spends; the fake server answers in another thread), and
    "process_ms", the whole process's (the fake server's thread included)."""
    times, process_started, thread_started = [], time.process_time(), time.thread_time()
    for question in questions:
        started = time.perf_counter()
        call(question)
        times.append(time.perf_counter() - started)
    cpu["ms"] = round((time.thread_time() - thread_started) / len(questions) * 1000, 2)
    cpu["process_ms"] = round((time.process_time() - process_started) / len(questions) * 1000, 2)
    return times


cpu: dict[str, float] = {}  # the last `timed` run's CPU time a call


def speed(app, database: str, chunks: int, fake: FakeOpenRouter) -> None:
    rng = random.Random(20)
    started = time.perf_counter()
    build(app, chunks, rng)
    built = time.perf_counter() - started
    questions = [entry["asked"] for entry in faq_entries()]
    questions = [questions[i % len(questions)] for i in range(REPEATS)]
    embedded = {q: fake_embedding(q, DIMENSIONS) for q in set(questions)}
    common = {"database": database, "chunks": chunks, "repeats": REPEATS}
    print(json.dumps({"bench": "knowledge_build", **common, "seconds": round(built, 1)}))
    with app.app_context():
        settings.save({"embedding_model": ""}, author="bench")
        words_only = Snapshot.load(app.config)
        retrieval.knowledge_for(questions[0], words_only)  # warm: the first search reads more
        times = timed(lambda q: retrieval.knowledge_for(q, words_only), questions)
        print(json.dumps({"bench": "retrieval_fulltext", **common, **percentiles(times),
                          "cpu_ms": cpu["ms"]}))  # fmt: skip
        vectors.nearest(embedded[questions[0]], MODEL, retrieval.RANKED)  # the bits read once
        times = timed(lambda q: vectors.nearest(embedded[q], MODEL, retrieval.RANKED), questions)
        print(json.dumps({"bench": "retrieval_vectors", **common, **percentiles(times),
                          "cpu_ms": cpu["ms"]}))  # fmt: skip
        settings.save({"embedding_model": MODEL, "openrouter_api_key": KEY,
                       "openrouter_base_url": fake.base_url}, author="bench")  # fmt: skip
        both = Snapshot.load(app.config)
        calls = []
        real = embeddings.embed_question

        def embed_question(*args, **kwargs):
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                calls.append(time.perf_counter() - started)

        embeddings.embed_question = embed_question
        try:
            retrieval.knowledge_for(questions[0], both)
            calls.clear()
            times = timed(lambda q: retrieval.knowledge_for(q, both), questions)
        finally:
            embeddings.embed_question = real
        searching = [total - call for total, call in zip(times, calls, strict=True)]
        print(json.dumps({"bench": "retrieval_hybrid", **common, **percentiles(times),
                          "cpu_ms": cpu["ms"], "cpu_ms_with_fake_server": cpu["process_ms"],
                          "without_question_embedding": percentiles(searching),
                          "question_embedding_loopback": percentiles(calls)}))  # fmt: skip


def quality(app, database: str, fake: FakeOpenRouter) -> None:
    with app.app_context():
        settings.save({"knowledge_inline_tokens": "0", "knowledge_chunks": "3",
                       "embedding_model": "", "openrouter_api_key": KEY,
                       "openrouter_base_url": fake.base_url}, author="bench")  # fmt: skip
        entries = add_bakery_faq()
        by_words = top3_hits(Snapshot.load(app.config), entries)
        settings.save({"embedding_model": MODEL}, author="bench")
        embeddings.embed_chunks()
        both = top3_hits(Snapshot.load(app.config), entries)
    print(json.dumps({"bench": "retrieval_quality", "database": database, "questions": len(entries),
                      "top3_fulltext": by_words, "top3_hybrid": both}))  # fmt: skip


def on(database_url: str | None, label: str, run) -> None:
    previous = os.environ.get("DATABASE_URL")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory() as instance:
        database = BenchDatabase(instance)
        os.environ.update(database.env)
        try:
            app = create_app({"INSTANCE_PATH": Path(instance)})
            with app.app_context():
                upgrade()
            run(app, label)
            with app.app_context():
                db.engine.dispose()
        finally:
            database.drop()
            vectors.forget_cache()
            os.environ.pop("DATABASE_URL", None)
            if previous:
                os.environ["DATABASE_URL"] = previous


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=CHUNKS)
    parser.add_argument("--postgresql", default=os.environ.get("DATABASE_URL", ""),
                        help="a PostgreSQL server's admin URL (default: DATABASE_URL)")  # fmt: skip
    options = parser.parse_args()
    servers = [(None, "sqlite")]
    if options.postgresql.startswith("postgresql"):
        servers.append((options.postgresql, "postgresql"))
    with FakeOpenRouter() as fake:
        fake.keep_alive = True  # as the real API keeps its connections open
        for url, label in servers:
            fake.embedding_dimensions = DIMENSIONS
            on(url, label, lambda app, name: speed(app, name, options.chunks, fake))
            fake.embedding_dimensions = 256
            on(url, label, lambda app, name: quality(app, name, fake))


if __name__ == "__main__":
    main()
