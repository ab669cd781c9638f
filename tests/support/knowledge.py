"""Knowledge for tests and benchmarks: the paraphrased bakery FAQ, and how often it is found."""

import json
from pathlib import Path

from webapp.knowledge import retrieval, sources

FAQ_FIXTURE = Path(__file__).parent.parent / "fixtures" / "knowledge" / "faq_paraphrases.json"


def faq_entries() -> list[dict]:
    return json.loads(FAQ_FIXTURE.read_text())["entries"]


def add_bakery_faq() -> list[dict]:
    """Every entry of the fixture as an FAQ entry (in an app context); the entries."""
    entries = faq_entries()
    for entry in entries:
        sources.add_faq(entry["question"], entry["answer"], author="test")
    return entries


def top3_hits(snap, entries: list[dict]) -> int:
    """For how many entries the customer's rewording finds the entry among the first three
    passages (`snap` must ask for retrieval of 3 chunks)."""
    hits = 0
    for entry in entries:
        found = retrieval.knowledge_for(entry["asked"], snap)
        hits += sources.faq_label(entry["question"]) in found.labels[:3]
    return hits
