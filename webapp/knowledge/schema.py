"""The parts of the knowledge tables that the models do not map: full-text search.

SQLite keeps an FTS5 table, `knowledge_fts`, in step with `knowledge_chunks` by triggers;
PostgreSQL a generated `search` tsvector column on `knowledge_chunks` with a GIN index. Both
are made by migration 0014; the model comparison (`flask db migrate`, the drift test) leaves
them out through `include_object`.
"""

FTS_TABLE = "knowledge_fts"
SEARCH_COLUMN = "search"
SEARCH_INDEX = "ix_knowledge_chunks_search"


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """False for the full-text objects only the migration knows."""
    if type_ == "table" and name and name.startswith(FTS_TABLE):
        return False
    if type_ == "column" and name == SEARCH_COLUMN and obj.table.name == "knowledge_chunks":
        return False
    return not (type_ == "index" and name == SEARCH_INDEX)
