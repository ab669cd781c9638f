"""Trials: the owner's side-by-side runs of models and prompt drafts on typed or real questions.

A trial is a grid: a row per question, a column per model, a cell per answer. Starting one
stores the whole grid with every cell pending, and nothing more: the worker answers the cells
(webapp/trial_cells.py), so no web request waits on a model and a stopped worker loses nothing.
"""

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update

from . import catalog, catalog_data, contacts, content, prompts
from .extensions import db
from .models import PLAYGROUND, Message, Trial, TrialCell, utcnow
from .replies import memory
from .states import CellState, TrialState

TR, TC = Trial.__table__.c, TrialCell.__table__.c
UNFINISHED = exists().where(
    TC.trial_id == bindparam("trial"), TC.state.in_((CellState.PENDING, CellState.RUNNING))
)
TRIAL_DONE = (  # a trial ends with its last cell
    update(Trial.__table__)
    .where(TR.id == bindparam("trial"), TR.state == TrialState.RUNNING, ~UNFINISHED)
    .values(state=TrialState.DONE, finished_at=bindparam("at"))
)
SCANNED = 200  # trials read at once when looking for a question to remove

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
        .where(
            M.direction == "in",
            M.channel != PLAYGROUND,  # the owner's own questions on the Try it page
            or_(M.text.is_not(None), M.media_text.is_not(None), photo),
        )
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


def remembered(
    question: dict, turns: int, photo: str | None = None
) -> tuple[list[dict], str | list[dict]]:
    """What a cell asks besides the prompt: the customer's memory if there is a customer (for
    a replayed message, the memory as it was when it came), and the question (see `_asked`)."""
    new = _asked(question, photo)
    if question["contact_id"] is None:
        return [], new
    when = None
    if question["message_id"] is not None:
        when = (question["message_id"], datetime.fromisoformat(question["at"]))
    return memory.history(question["contact_id"], None, turns, when), new


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
    """The trial's questions left (a forgotten customer's are gone) and their answers."""
    stored = json.loads(trial.questions)
    row_of = {index: row for row, index in enumerate(i for i, q in enumerate(stored) if q)}
    listed = catalog_data.listings()
    columns = [
        Column(model, [None] * len(row_of), catalog_data.sees_images(listed, model))
        for model in json.loads(trial.models)
    ]
    by_model = {column.model: column for column in columns}
    for cell in db.session.scalars(select(TrialCell).where(TrialCell.trial_id == trial.id)):
        if cell.question in row_of:
            by_model[cell.model].cells[row_of[cell.question]] = cell
    return Grid(trial, [q for q in stored if q], columns)


def drop_questions(is_gone: Callable[[dict], bool], *among) -> int:
    """Remove from the trials matching `among` every question `is_gone` is true of, with its
    answers; a trial with no question left goes whole. In the caller's transaction; how many
    questions went.

    A question becomes null, so the other cells keep their index. The cells go before the
    trial's row is locked, the order in which the worker ends a cell: neither waits for the
    other.
    """
    dropped, after = 0, 0
    while batch := db.session.execute(
        select(TR.id, TR.questions).where(TR.id > after, *among).order_by(TR.id).limit(SCANNED)
    ).all():
        after = batch[-1].id
        for trial_id, stored in batch:
            gone = [i for i, q in enumerate(json.loads(stored)) if q and is_gone(q)]
            if gone:
                dropped += _drop(trial_id, gone)
    return dropped


def _drop(trial_id: int, gone: list[int]) -> int:
    db.session.execute(
        delete(TrialCell.__table__).where(TC.trial_id == trial_id, TC.question.in_(gone))
    )
    stored = db.session.scalar(select(TR.questions).where(TR.id == trial_id).with_for_update())
    if stored is None:
        return 0  # deleted meanwhile
    questions = json.loads(stored)
    for index in gone:
        questions[index] = None
    if not any(questions):
        db.session.execute(delete(Trial.__table__).where(TR.id == trial_id))
    else:
        db.session.execute(
            update(Trial.__table__).where(TR.id == trial_id).values(questions=json.dumps(questions))
        )
        db.session.execute(TRIAL_DONE, {"trial": trial_id, "at": utcnow()})
    return len(gone)


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
