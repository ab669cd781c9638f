"""Deterministic stand-in embeddings: texts sharing words (or parts of words) land close.

Each lowercased word, cut to a crude stem, adds weight to one of `DIMENSIONS` dimensions
(chosen by a hash, with a sign also chosen by a hash), and each of its three-letter pieces a
little; the sum is normalised. "deliver" and "delivery" share a stem and most pieces, "cake"
and "gateau" nothing: like a real model on shared words, blind to synonyms.
"""

import hashlib
import math
import re

DIMENSIONS = 256
WORD = re.compile(r"[^\W_]+")
SUFFIXES = ("ing", "ies", "ed", "es", "s", "ly", "y")
_SKIPPED_TEXT = "a an the is are do does you your i we to of and or in on for it can "
SKIPPED = frozenset(_SKIPPED_TEXT.split())


def _stem(word: str) -> str:
    for suffix in SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _slot(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=4).digest()
    number = int.from_bytes(digest, "little")
    return number % dimensions, 1.0 if number & (1 << 31) else -1.0


def fake_embedding(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    vector = [0.0] * dimensions
    for word in WORD.findall(text.lower()):
        if word in SKIPPED:
            continue
        stem = _stem(word)
        index, sign = _slot("w:" + stem, dimensions)
        vector[index] += sign
        padded = f"<{stem}>"
        for start in range(len(padded) - 2):
            index, sign = _slot("t:" + padded[start : start + 3], dimensions)
            vector[index] += 0.3 * sign
    length = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [round(x / length, 6) for x in vector]


def embeddings_answer(texts: list[str], model: str, dimensions: int = DIMENSIONS) -> dict:
    """OpenAI's (and OpenRouter's) embeddings answer for `texts`."""
    tokens = sum(len(text.split()) for text in texts)
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": index, "embedding": fake_embedding(text, dimensions)}
            for index, text in enumerate(texts)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens, "cost": tokens * 2e-8},
    }
