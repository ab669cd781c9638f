"""Full-text search of the chunks: the database's own (SQLite FTS5, PostgreSQL tsvector).

Any customer's text becomes a plain OR of its words: letters and digits only, each quoted
(SQLite) or a bare lexeme (PostgreSQL), so quotes, operators (NEAR, AND, -, *), emoji or
HTML in a question are never read as query syntax and can never raise.
"""

import re

from sqlalchemy import text

from ..extensions import db

WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; no underscore, no symbol
MAX_WORDS = 40  # the exchange before and the question can be long: the newest words count
# Words nearly every chunk has: matching them costs time and says nothing (PostgreSQL's
# 'english' configuration drops these itself; FTS5 does not).
_STOP_WORDS_TEXT = (
    "a an and are as at be but by can could do does did for from had has have hello "
    "hi how i if in is it its me my no not of on or our please so that the their "
    "them then there these they this to too us was we were what when where which who "
    "why will with would you your yes ok thanks thank "
)
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

SQLITE = text(
    "SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH :query "
    "ORDER BY bm25(knowledge_fts), rowid LIMIT :limit"
)
# ts_rank, not ts_rank_cd: the same order on the test FAQ at half the time a matching chunk.
POSTGRES = text(
    "SELECT id FROM knowledge_chunks, to_tsquery('english', :query) AS query "
    "WHERE search @@ query ORDER BY ts_rank(search, query) DESC, id LIMIT :limit"
)
# PostgreSQL's planner thinks matching a tsvector cheap and, once the table is analysed, reads
# every chunk (45 ms at 20,000) rather than the GIN index (a few ms): told not to, for this
# one statement.
INDEX_ONLY, AS_USUAL = text("SET LOCAL enable_seqscan = off"), text("SET LOCAL enable_seqscan = on")


def words(question: str) -> list[str]:
    """The question's distinct searchable words, lowercased, stop words and single letters
    ("what's" gives "s") left out: the last `MAX_WORDS` of them (the customer's own words
    come after the exchange before), in order."""
    found = dict.fromkeys(word.lower() for word in reversed(WORD.findall(question)))
    kept = [w for w in found if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]
    return kept[:MAX_WORDS][::-1]


def search(question: str, limit: int) -> list[int]:
    """Up to `limit` chunk ids matching any word of `question`, the best first."""
    terms = words(question)
    if not terms:
        return []
    if db.session.get_bind().dialect.name != "postgresql":
        query = " OR ".join(f'"{term}"' for term in terms)
        return list(db.session.scalars(SQLITE, {"query": query, "limit": limit}))
    db.session.execute(INDEX_ONLY)
    found = list(db.session.scalars(POSTGRES, {"query": " | ".join(terms), "limit": limit}))
    db.session.execute(AS_USUAL)  # (after a failure, the rollback undoes it)
    return found
