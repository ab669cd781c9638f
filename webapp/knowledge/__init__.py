"""What the assistant knows about the business beyond its prompt.

The words used here:
- **source**: one thing the owner gave: a file (PDF, text, Markdown, CSV, DOCX; kept by
  files.py), pasted text, one FAQ entry (question and answer) or a web page (web_pages.py),
  added by sources.py. A worker claims and reads it (indexing.py, extract.py) and cuts its
  text into **chunks** (chunks.py); each chunk carries a label that says where it comes from
  ("Menu.pdf, page 2", "FAQ › Delivery times").
- **inline / retrieved**: while all chunks together fit in `knowledge_inline_tokens`, the
  model gets all of it, as one stable block after the prompt (so providers can cache it);
  beyond that, a search picks the `knowledge_chunks` best chunks for the turn's question
  (retrieval.py): full-text always (fulltext.py; the index itself is the database's, see
  schema.py), embeddings too when `embedding_model` is set (embeddings.py computes them,
  vectors.py finds the nearest), the two rankings merged.
- **given**: what a model is asked with besides the conversation, in that order: the prompt,
  the knowledge, the told block (given.py).
- **told**: the short block of facts after the prompt, each line switchable (`always_tell`):
  the business name, today's date and time, the opening hours and whether it is open now
  (hours.py), the customer's name (told.py). Outside the hours, after_hours.py adds a note
  or sends the away message instead.
- **gap**: a question the model said it could not answer (the `cannot_answer` tool, or a
  first line `CANNOT_ANSWER`); asked again, it counts up; answered on the Knowledge page, it
  becomes an FAQ entry (gaps.py).
"""
