"""The chunks nearest a question's embedding, found without numpy: signs first, then exactly.

Each stored vector is normalised float32 (`vector`) with its sign bits (`bits`, one a
dimension). A search compares the question's sign bits with every chunk's (the Hamming
distance: a XOR and a bit count of two Python ints), keeps the closest, and ranks the first
`EXACT` of them by their exact similarity. The bits of all chunks are held in memory by each
process, read again when a vector was added (the newest id changed) or a source was added,
changed or removed (their count or last update changed): one small query a search tells.
"""

import heapq
import math
import operator
import struct
import sys
import threading
from array import array
from dataclasses import dataclass

from sqlalchemy import func, select

from ..extensions import db
from ..models import KnowledgeChunk, KnowledgeSource, KnowledgeVector

EXACT = 40  # compared exactly; the sign bits alone put the best ones among the first few
# Beyond a few thousand chunks, a first pass over the first 256 dimensions' signs (an eighth
# of the work; text-embedding-3 models put the most in their first dimensions) keeps
# SHORTLIST chunks for the pass over all of them.
SHORT_BITS, SHORTLIST = 256, 400
# Python 3.12's C dot product, else the same in a loop (3.11)
dot = getattr(math, "sumprod", lambda a, b: sum(map(operator.mul, a, b)))
CLEAR_AS_ONE = b"1" * 0x80 + b"0" * 0x80  # a float's top byte: "1" where its sign bit is clear
# Any chunk or vector added (ids only grow), or any source added, changed or removed (its
# chunks and their vectors go with it): four index look-ups, not a count of the chunks.
VERSION = select(
    select(func.max(KnowledgeChunk.id)).scalar_subquery(),
    select(func.max(KnowledgeVector.id)).scalar_subquery(),
    select(func.count()).select_from(KnowledgeSource).scalar_subquery(),
    select(func.max(KnowledgeSource.updated_at)).scalar_subquery(),
)


def normalised(values: list[float]) -> array:
    """The vector as float32 of length 1 (a zero vector stays zero)."""
    length = math.sqrt(dot(values, values)) or 1.0
    return array("f", map(length.__rtruediv__, values))


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
    """One bit a dimension, set where the value is zero or above (its sign bit is clear);
    dimension 0 the lowest bit. Read from the float32 bytes, without a loop in Python."""
    vector = array("f", vector)
    if sys.byteorder == "big":
        vector.byteswap()
    signs = vector.tobytes()[3::4].translate(CLEAR_AS_ONE)
    return int(signs[::-1], 2).to_bytes((len(vector) + 7) // 8, "little") if signs else b""


@dataclass
class _Bits:
    version: tuple
    chunk_ids: list[int]
    numbers: list[int]  # the sign bits, dimension 0 the lowest
    short: list[int]  # the same, of the first SHORT_BITS dimensions


_cache: dict[str, _Bits] = {}
_lock = threading.Lock()


def version() -> tuple:
    """What changes whenever the knowledge's chunks or vectors do."""
    return tuple(db.session.execute(VERSION).one())


def _bits_of(model: str, version_now: tuple | None = None) -> _Bits:
    """The sign bits of every vector of `model`, from memory while nothing was added or
    removed (one small query tells, unless the caller just asked it), else read again."""
    version_now = version_now or version()
    held = _cache.get(model)
    if held is not None and held.version == version_now:
        return held
    rows = db.session.execute(
        select(KnowledgeVector.chunk_id, KnowledgeVector.bits).where(KnowledgeVector.model == model)
    ).all()
    numbers = [int.from_bytes(row[1], "little") for row in rows]
    mask = (1 << SHORT_BITS) - 1
    fresh = _Bits(version_now, [row[0] for row in rows], numbers, [n & mask for n in numbers])
    with _lock:
        _cache[model] = fresh
    return fresh


def has_vectors(model: str, version_now: tuple | None = None) -> bool:
    return bool(model) and bool(_bits_of(model, version_now).chunk_ids)


def nearest(
    query: list[float], model: str, limit: int, version_now: tuple | None = None
) -> list[int]:
    """Up to `limit` chunk ids, the most similar to `query` first: the `EXACT` closest by
    their sign bits ranked by their exact similarity, then the others by their bits.
    `version_now`: the knowledge's `version()`, when the caller has just read it."""
    held = _bits_of(model, version_now)
    if not held.chunk_ids:
        return []
    wanted = normalised(query)
    target = int.from_bytes(sign_bits(wanted), "little")
    # distance and place in one int: the smallest found by C comparisons, no key function
    shift = len(held.numbers).bit_length()
    mask = (1 << shift) - 1
    places: range | list[int] = range(len(held.numbers))
    if len(held.numbers) > 4 * SHORTLIST:
        short = target & ((1 << SHORT_BITS) - 1)
        keyed = [((short ^ number).bit_count() << shift) | index
                 for index, number in enumerate(held.short)]  # fmt: skip
        places = [key & mask for key in heapq.nsmallest(SHORTLIST, keyed)]
    numbers = held.numbers
    keyed = [((target ^ numbers[index]).bit_count() << shift) | index for index in places]
    ranked = [held.chunk_ids[key & mask] for key in heapq.nsmallest(max(EXACT, limit), keyed)]
    return _by_exact_distance(wanted, model, ranked[:EXACT]) + ranked[EXACT:limit]


def _by_exact_distance(wanted: array, model: str, chunk_ids: list[int]) -> list[int]:
    """`chunk_ids` nearest `wanted` first. Both are of length 1, so the smaller their
    distance (math.dist, in C), the greater their cosine similarity."""
    rows = db.session.execute(
        select(KnowledgeVector.chunk_id, KnowledgeVector.vector).where(
            KnowledgeVector.model == model, KnowledgeVector.chunk_id.in_(chunk_ids)
        )
    ).all()  # a chunk removed since the bits were read is simply not found
    point = tuple(wanted)
    layout = struct.Struct(f"<{len(point)}f")  # the stored form: little-endian float32
    scored = sorted(
        (math.dist(point, layout.unpack(data)), chunk_id)
        for chunk_id, data in rows
        if len(data) == layout.size
    )
    return [chunk_id for _, chunk_id in scored]


def forget_cache() -> None:
    with _lock:
        _cache.clear()
