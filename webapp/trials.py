"""Trials: the owner's side-by-side runs of models and prompt drafts on typed or real questions.

A trial is a grid: a row per question, a column per model, a cell per answer. Starting one
stores the whole grid with every cell pending, and nothing more: the worker answers the cells
(webapp/trial_cells.py), so no web request waits on a model and a stopped worker loses nothing.
"""

import json
import statistics
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from . import catalog, catalog_data, contacts, content, prompts
from .extensions import db
from .models import Message, Trial, TrialCell
from .replies import memory
from .states import CellState

MAX_MODELS = 6
MAX_REPLAYED = 20
MAX_QUESTION = 4000  # characters of a typed question; a WhatsApp message is rarely longer
LISTED = 50  # trials on the Compare page
ENDED = (CellState.DONE, CellState.FAILED)


class TrialError(ValueError):
    """A trial that cannot start; `problems` maps each form field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


def start(
    models: list[str],
    prompt: str,
    source: str,
    author: str,
    text: str = "",
    customer: str = "",
    last_n: int | None = None,
) -> Trial:
    """Store a trial and its pending cells; raises TrialError and stores nothing when a value
    is wrong. A prompt equal to the saved one is not a draft: the trial uses the saved prompt."""
    problems: dict[str, str] = {}
    models = list(dict.fromkeys(m.strip() for m in models if m.strip()))
    if not models:
        problems["models"] = "Pick at least one model."
    elif len(models) > MAX_MODELS:
        problems["models"] = f"Pick at most {MAX_MODELS} models; {len(models)} were picked."
    elif unusable := [m for m in models if not catalog.usable(m)]:
        problems["models"] = f"{', '.join(unusable)}: not in the model table, or disabled there."
    draft = prompt.replace("\r\n", "\n").strip()
    if not draft:
        problems["prompt"] = "The prompt cannot be empty: clear a draft by typing the saved one."
    questions: list[dict] = []
    contact_id = None
    if source == "typed":
        text = text.strip()
        if not text:
            problems["message"] = "Type the message the models should answer."
        elif len(text) > MAX_QUESTION:
            problems["message"] = f"The message is longer than {MAX_QUESTION} characters."
        if customer.strip():
            contact = contacts.find(customer)
            if contact is None:
                problems["customer"] = f"No customer has the number {customer.strip()}."
            else:
                contact_id = contact.id
        questions = [{"text": text, "message_id": None, "contact_id": contact_id}]
    elif source == "replay":
        if last_n is None or not 1 <= last_n <= MAX_REPLAYED:
            problems["last_n"] = f"Replay from 1 to {MAX_REPLAYED} messages."
        elif not (questions := last_messages(last_n)):
            problems["last_n"] = "No customer has written yet: there is nothing to replay."
    else:
        problems["source"] = "Choose a typed message or the last customer messages."
    if problems:
        raise TrialError(problems)
    trial = Trial(
        author=author,
        prompt=None if draft == prompts.current_text() else draft,
        models=json.dumps(models),
        source=source,
        contact_id=contact_id,
        last_n=last_n if source == "replay" else None,
        questions=json.dumps(questions),
    )
    db.session.add(trial)
    db.session.flush()
    db.session.add_all(
        TrialCell(trial_id=trial.id, model=model, question=index, message_id=q["message_id"])
        for index, q in enumerate(questions)
        for model in models
    )
    db.session.commit()
    return trial


def last_messages(n: int) -> list[dict]:
    """The last `n` messages customers sent that a model can read, oldest first, with when
    each came: words, a photo kept (`image`: its message id), a transcript, a PDF's text."""
    M = Message
    photo = and_(M.type == "image", M.media_file.is_not(None))
    rows = db.session.scalars(
        select(M)
        .where(M.direction == "in", or_(M.text.is_not(None), M.media_text.is_not(None), photo))
        .order_by(M.id.desc())
        .limit(n)
    ).all()
    return [_replayed(m) for m in reversed(rows)]


def _replayed(m: Message) -> dict:
    """A customer's message as a question: its words as its turn read them; a kept photo's
    caption, with the photo for the models that can see it."""
    question = {"message_id": m.id, "contact_id": m.contact_id, "at": m.created_at.isoformat()}
    if m.type == "image" and m.media_file:
        return question | {"text": m.text, "image": m.id}
    read = content.Read(m.type, m.text, m.media_text, m.media_name)
    return question | {"text": content.turn_text(read)}


def _asked(question: dict, photo: str | None) -> str | list[dict]:
    """What a cell's model reads of the question: its words, with the photo (`photo`, a data:
    URL) for a model that can see it; a model that cannot reads that a photo came."""
    if "image" not in question:
        return question["text"]
    return content.user_content([content.Read("image", question["text"], image=photo)])


def context(prompt: str, question: dict, turns: int, photo: str | None = None) -> list[dict]:
    """What a cell asks: the prompt, the customer's memory if there is a customer (for a
    replayed message, the memory as it was when it came), and the question (see `_asked`)."""
    new = _asked(question, photo)
    if question["contact_id"] is None:
        return [{"role": "system", "content": prompt}, {"role": "user", "content": new}]
    when = None
    if question["message_id"] is not None:
        when = (question["message_id"], datetime.fromisoformat(question["at"]))
    return memory.context(prompt, question["contact_id"], None, new, turns, when)


@dataclass
class Column:
    """One model's answers down the grid, and its totals."""

    model: str
    cells: list[TrialCell | None] = field(default_factory=list)
    sees_images: bool = False

    def _ended(self, state: str) -> list[TrialCell]:
        return [c for c in self.cells if c is not None and c.state == state]

    @property
    def median_ms(self) -> int | None:
        latencies = [c.latency_ms for c in self._ended(CellState.DONE) if c.latency_ms is not None]
        return int(statistics.median(latencies)) if latencies else None

    @property
    def cost(self) -> float:
        return sum(c.cost or 0.0 for c in self._ended(CellState.DONE))

    @property
    def failures(self) -> int:
        return len(self._ended(CellState.FAILED))


@dataclass
class Grid:
    trial: Trial
    questions: list[dict]
    columns: list[Column]


def grid(trial: Trial) -> Grid:
    questions = json.loads(trial.questions)
    listed = catalog_data.listings()
    columns = [
        Column(model, [None] * len(questions), catalog_data.sees_images(listed, model))
        for model in json.loads(trial.models)
    ]
    by_model = {column.model: column for column in columns}
    for cell in db.session.scalars(select(TrialCell).where(TrialCell.trial_id == trial.id)):
        by_model[cell.model].cells[cell.question] = cell
    return Grid(trial, questions, columns)


def progress(trial_id: int) -> dict:
    """How far the worker is: cells ended of all cells, and whether the trial is done."""
    counts = dict(
        db.session.execute(
            select(TrialCell.state, func.count())
            .where(TrialCell.trial_id == trial_id)
            .group_by(TrialCell.state)
        ).all()
    )
    ended = sum(counts.get(state, 0) for state in ENDED)
    total = sum(counts.values())
    return {"ended": ended, "total": total, "done": ended == total}


def recent(limit: int = LISTED) -> list[Trial]:
    return list(db.session.scalars(select(Trial).order_by(Trial.id.desc()).limit(limit)))


def model_ids(trial: Trial) -> list[str]:
    return json.loads(trial.models)
