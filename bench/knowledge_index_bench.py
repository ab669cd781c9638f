"""Knowledge indexing benchmark: how long reading a 300-page PDF takes, from pending to its
chunks stored (the sandboxed reader, page labels, chunking, one transaction), on a throwaway
instance with SQLite. Embeddings are not computed here: they are calls out, counted apart.

Each page carries about 1,500 characters of menu-like text, so the document is about 450,000
characters. Target (issue 20): under a minute.

    .venv/bin/python bench/knowledge_index_bench.py [--pages 300] [--runs 3]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from tests.support.payloads import pdf_bytes  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.knowledge import indexing, sources  # noqa: E402
from webapp.models import KnowledgeChunk  # noqa: E402

DISHES = ("Margherita", "Diavola", "Quattro formaggi", "Capricciosa", "Marinara", "Calzone")


def page_lines(number: int) -> list[str]:
    """About 1,500 characters: 20 lines of a menu, each with its price and a description."""
    return [
        f"{DISHES[(number + n) % len(DISHES)]} no. {number}-{n}: tomato, mozzarella, basil, "
        f"olive oil. {8 + n % 7}.50 EUR"
        for n in range(20)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    data = pdf_bytes(*(page_lines(n) for n in range(1, options.pages + 1)))
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"INSTANCE_PATH": Path(folder) / "instance"})
        with app.app_context():
            upgrade()
            times = []
            for run in range(options.runs):
                source = sources.add_file(data, f"Menu {run}.pdf", author="bench")
                started = time.perf_counter()
                state = indexing.read_now(source.id)
                times.append(time.perf_counter() - started)
                chunks = db.session.scalar(
                    select(func.count(KnowledgeChunk.id)).where(
                        KnowledgeChunk.source_id == source.id
                    )
                )
                db.session.refresh(source)
                print(
                    f"run {run + 1}: {state}, {source.chars:,} characters, {chunks} chunks, "
                    f"{times[-1]:.2f} s"
                )
                sources.remove(source)
            db.engine.dispose()
    median, worst = statistics.median(times), max(times)
    print(
        f"{options.pages}-page PDF ({len(data) / 2**20:.1f} MB): median {median:.2f} s, "
        f"worst {worst:.2f} s (target: under 60 s)"
    )


if __name__ == "__main__":
    main()
