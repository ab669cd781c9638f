"""The chunks nearest a question's embedding, found without numpy: signs first, then exactly.

Each stored vector is normalised float32 (`vector`) with its sign bits (`bits`, one a
dimension). A search compares the question's sign bits with every chunk's (the Hamming
distance: a XOR and a bit count of two Python ints), keeps the closest `CANDIDATES`, and
ranks those by their exact cosine. The bits of all chunks are held in memory by each process,
read again only when the vectors of the model changed (their count or newest id differ).
"""

import heapq
import math
import operator
import sys
import threading
from array import array
from dataclasses import dataclass

from sqlalchemy import func, select

from ..extensions import db
from ..models import KnowledgeVector

CANDIDATES = 40  # compared exactly; the sign bits alone put the best ones among the first few


def normalised(values: list[float]) -> array:
    """The vector as float32 of length 1 (a zero vector stays zero)."""
    length = math.sqrt(sum(x * x for x in values)) or 1.0
    return array("f", [x / length for x in values])


def packed(vector: array) -> bytes:
    """Little-endian float32 bytes, the stored form."""
    if sys.byteorder == "big":
        vector = array("f", vector)
        vector.byteswap()
    return vector.tobytes()


def unpacked(data: bytes) -> array:
    vector = array("f")
    vector.frombytes(data)
    if sys.byteorder == "big":
        vector.byteswap()
    return vector


def sign_bits(vector: array) -> bytes:
    """One bit a dimension, set where the value is positive; dimension 0 the lowest bit."""
    number = 0
    for index, value in enumerate(vector):
        if value > 0:
            number |= 1 << index
    return number.to_bytes((len(vector) + 7) // 8, "little")


@dataclass
class _Bits:
    count: int
    newest: int | None
    chunk_ids: list[int]
    numbers: list[int]


_cache: dict[str, _Bits] = {}
_lock = threading.Lock()


def _bits_of(model: str) -> _Bits:
    """The sign bits of every vector of `model`, from memory while nothing was added or
    removed (one small query tells), else read again."""
    count, newest = db.session.execute(
        select(func.count(), func.max(KnowledgeVector.id)).where(KnowledgeVector.model == model)
    ).one()
    held = _cache.get(model)
    if held is not None and (held.count, held.newest) == (count, newest):
        return held
    rows = db.session.execute(
        select(KnowledgeVector.chunk_id, KnowledgeVector.bits).where(KnowledgeVector.model == model)
    ).all()
    fresh = _Bits(count, newest, [row[0] for row in rows],
                  [int.from_bytes(row[1], "little") for row in rows])  # fmt: skip
    with _lock:
        _cache[model] = fresh
    return fresh


def has_vectors(model: str) -> bool:
    return bool(model) and _bits_of(model).count > 0


def nearest(query: list[float], model: str, limit: int) -> list[int]:
    """Up to `limit` chunk ids, the most similar to `query` first (cosine similarity)."""
    held = _bits_of(model)
    if not held.count:
        return []
    wanted = normalised(query)
    target = int.from_bytes(sign_bits(wanted), "little")
    distances = [(target ^ number).bit_count() for number in held.numbers]
    closest = heapq.nsmallest(max(CANDIDATES, limit), range(len(distances)),
                              key=distances.__getitem__)  # fmt: skip
    candidates = [held.chunk_ids[index] for index in closest]
    rows = db.session.execute(
        select(KnowledgeVector.chunk_id, KnowledgeVector.vector).where(
            KnowledgeVector.model == model, KnowledgeVector.chunk_id.in_(candidates)
        )
    ).all()  # a chunk removed since the bits were read is simply not found
    scored = []
    for chunk_id, data in rows:
        vector = unpacked(data)
        if len(vector) == len(wanted):
            scored.append((sum(map(operator.mul, wanted, vector)), chunk_id))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [chunk_id for _, chunk_id in scored[:limit]]


def forget_cache() -> None:
    with _lock:
        _cache.clear()
