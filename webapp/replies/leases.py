"""Who holds a customer's turn: claims with a lease and a token, renewals, the fence.

A run holds a turn while the turn's `token` is its own. Every write of the run goes through
`fenced`, which checks the token and extends the lease in the same transaction, and so does
every call out (`Lease.check`), so a run that lost its lease (it stalled, another worker took
the turn over) can never send, log or finish. The same statements work on SQLite (writes are
serialised) and PostgreSQL (row locks, SKIP LOCKED, a lock per customer being claimed), with
any number of worker processes. A claim never waits for another worker's claim. Claims,
fences and renewals are built once, so SQLAlchemy reuses their compiled form: the worker's CPU
per answer is mostly statements like these.
"""

import math
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache

from sqlalchemy import Float, bindparam, exists, func, literal, literal_column, select, update

from ..extensions import database_now, db, dialect_insert, transaction
from ..models import Message, TrialCell, Turn, utcnow
from ..states import CellState, MessageState, TurnState

# Runs of one leased piece of work (a turn, a trial cell) before it is given up: a crash, a stall
# or a failure inside Switchboard each end a run; the last one ends in an error the owner sees.
MAX_RUNS = 3
T, M = Turn.__table__.c, Message.__table__.c
OPEN_TURN = exists().where(T.contact_id == M.contact_id, T.state == TurnState.OPEN)
# The first waiting messages in arrival order: the first rows of an index, however long the
# queue. A customer with several of them counts once, and the claim takes fewer customers.
WAITING = (
    select(M.contact_id)
    .where(M.direction == "in", M.state == MessageState.RECEIVED, ~OPEN_TURN)
    .order_by(M.id)  # the customer waiting longest first
)
# PostgreSQL: a claim holds each customer it takes by a lock of its own, tried and never
# waited for, until it commits. Customers another worker is claiming right now are passed
# over, so two workers take different customers at once. Locking their messages instead
# (FOR UPDATE SKIP LOCKED) could deadlock: one claim locks a customer's first message, the
# next claim skips it and locks their second, then waits for the first claim's turn, while
# that one waits for the second message to take it into its turn.
CLAIMING = literal_column(str(0x53574244))  # "SWBD": the claims' advisory locks, apart from others
PASS_OVER = 1000  # waiting messages a claim looks through at most, past others' customers
FIRST_WAITING = WAITING.limit(PASS_OVER).subquery()
NOT_BEING_CLAIMED = (
    # The lock is tried row by row as the rows are read, and only until `limit` rows passed:
    # a function that changes something is never moved inside the subquery by the planner.
    select(FIRST_WAITING.c.contact_id)
    .where(func.pg_try_advisory_xact_lock(CLAIMING, FIRST_WAITING.c.contact_id))
    .limit(bindparam("limit"))
)
# Every lease time is the database's, so workers on hosts whose clocks disagree agree on who
# holds a turn: by its own clock, a worker running ahead would take live turns over, and one
# running behind would leave dead workers' turns waiting (as would leases a dead one set).
LEASE_END = database_now(bindparam("lease_seconds", type_=Float))
STALE = (T.state == TurnState.OPEN, T.lease_until < database_now())
EXPIRED = (
    select(T.id)
    .where(*STALE)
    .order_by(T.lease_until)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
TAKE_OVER = (
    update(Turn.__table__)
    .where(T.id == bindparam("turn"), *STALE)
    .values(
        token=bindparam("new_token"),
        holder=bindparam("new_holder"),
        lease_until=LEASE_END,
        runs=T.runs + 1,
    )
    .returning(T.contact_id, T.runs)
)
FENCE = (
    update(Turn.__table__)
    .where(T.id == bindparam("turn"), T.token == bindparam("held"), T.state == TurnState.OPEN)
    .values(lease_until=LEASE_END)
)


@cache
@cache
def _waiting(dialect: str):
    """The customers a claim may open turns for, up to `limit` rows of waiting messages. (One
    statement object per dialect: SQLAlchemy keys its compiled statements by a walk of the
    statement's parts, which a new object would cost again at every claim.)"""
    if dialect == "postgresql":
        return NOT_BEING_CLAIMED
    return WAITING.limit(bindparam("limit"))  # SQLite: one claim writes at a time


@cache
def _open_turn(dialect: str):
    """INSERT of an open turn for a customer whose messages still wait, read when the
    statement runs: nothing when the customer has an open turn, or a claim that committed
    meanwhile took their messages."""
    contact = bindparam("contact", type_=T.contact_id.type)
    still_waiting = exists().where(
        M.contact_id == contact, M.direction == "in", M.state == MessageState.RECEIVED
    )
    no_open_turn = ~exists().where(T.contact_id == contact, T.state == TurnState.OPEN)
    turn = select(
        contact,
        literal(TurnState.OPEN.value, T.state.type),
        bindparam("new_token", type_=T.token.type),
        bindparam("new_holder", type_=T.holder.type),
        LEASE_END,
        literal(1, T.runs.type),
        bindparam("at", type_=T.created_at.type),
    ).where(still_waiting, no_open_turn)
    columns = ["contact_id", "state", "token", "holder", "lease_until", "runs", "created_at"]
    return (
        dialect_insert(Turn.__table__)
        .from_select(columns, turn)
        # Two claims opening one customer's turn at once on SQLite: the unique index on open
        # turns lets exactly one insert through. (On PostgreSQL the customer's lock does.)
        .on_conflict_do_nothing()
        .returning(T.id)
    )


class LeaseLost(Exception):
    """The turn is no longer this run's: it stalled past its lease and another run took it."""


@dataclass
class Lease:
    """A run's hold on a turn; `lost` is set as soon as a renewal or a write finds it gone.

    The worker's heartbeat renews the lease until `horizon` (time.monotonic(): the turn's
    deadline and a moment to write its end); past it the run counts the lease as lost, since
    nothing renews it any more. `confirmed` is when the database last said the hold is ours
    (a fence or a renewal): no other run can take the turn for `lease_for` after that.
    """

    turn_id: int
    contact_id: int
    token: str
    runs: int
    lease_for: timedelta
    lost: bool = False
    horizon: float = math.inf
    confirmed: float = field(default_factory=time.monotonic)

    def check(self) -> None:
        """Raise LeaseLost unless this run still holds the turn. Called before every call to
        OpenRouter or the Graph API: a run that stalled (a stopped process, a machine that
        slept) while another worker took its turn over must send nothing, whatever its
        heartbeat has not noticed yet. When half a lease passed since the database last
        confirmed the hold, a fence asks it again (and extends the lease for the call)."""
        if not self.lost and time.monotonic() > self.horizon:
            self.lost = True  # nothing renews the lease any more: another run may take it
        if self.lost:
            raise LeaseLost(f"turn {self.turn_id} was taken over")
        if time.monotonic() - self.confirmed > self.lease_for.total_seconds() / 2:
            with fenced(self):
                pass


def claim(
    holder: str, limit: int, lease_for: timedelta, expired: bool = True, commit: bool = True
) -> list[Lease]:
    """Up to `limit` turns for this worker: customers with waiting messages and no open turn,
    and (with `expired`) open turns whose lease ran out, whose earlier run stalled or died.
    With `commit=False` the caller commits, after more work in the same transaction."""
    leases = _claim_expired(holder, limit, lease_for) if expired else []
    if len(leases) < limit:
        leases += _claim_new(holder, limit - len(leases), lease_for)
    if commit:
        db.session.commit()
    return leases


def _claim_new(holder: str, limit: int, lease_for: timedelta) -> list[Lease]:
    leases = []
    dialect = db.engine.dialect.name
    for contact_id in dict.fromkeys(db.session.scalars(_waiting(dialect), {"limit": limit})):
        token = secrets.token_hex(16)
        turn_id = db.session.scalar(
            _open_turn(dialect),
            {"contact": contact_id, "new_token": token, "new_holder": holder,
             "lease_seconds": lease_for.total_seconds(), "at": utcnow()},
        )  # fmt: skip
        if turn_id is not None:
            leases.append(Lease(turn_id, contact_id, token, 1, lease_for))
    return leases


def _claim_expired(holder: str, limit: int, lease_for: timedelta) -> list[Lease]:
    # PostgreSQL: rows another worker is claiming right now are skipped, not waited for.
    ids = db.session.scalars(EXPIRED, {"limit": limit}).all()
    leases = []
    for turn_id in ids:
        token = secrets.token_hex(16)
        values = {"turn": turn_id, "new_token": token, "new_holder": holder,
                  "lease_seconds": lease_for.total_seconds()}  # fmt: skip
        row = db.session.execute(TAKE_OVER, values).first()
        if row is not None:
            leases.append(Lease(turn_id, row.contact_id, token, row.runs, lease_for))
    return leases


@contextmanager
def fenced(lease: Lease) -> Iterator[None]:
    """A transaction that commits only while `lease` still holds the turn, and extends it.

    The first statement is the write that proves the hold: on PostgreSQL it locks the turn's
    row until the commit, so no other run can take the turn over in between; on SQLite the
    whole transaction holds the database's write lock.
    """
    seconds, confirmed = lease.lease_for.total_seconds(), time.monotonic()
    held = db.session.execute(
        FENCE, {"turn": lease.turn_id, "held": lease.token, "lease_seconds": seconds}
    ).rowcount
    if not held:
        db.session.rollback()
        lease.lost = True
        raise LeaseLost(f"turn {lease.turn_id} was taken over")
    lease.confirmed = confirmed
    with transaction():
        yield


def writing(lease: Lease | None):
    """A transaction; for a run's writes, one that commits only while its lease holds the turn
    (a run that lost its turn leaves no row behind, not even a failure's log row)."""
    return transaction() if lease is None else fenced(lease)


def renew(tokens: list[str], lease_for: timedelta) -> set[str]:
    """Extend the leases of the turns these tokens hold; returns the tokens still held."""
    if not tokens:
        return set()
    held = db.session.scalars(
        update(Turn)
        .where(Turn.token.in_(tokens), Turn.state == TurnState.OPEN)
        .values(lease_until=database_now(lease_for.total_seconds()))
        .returning(Turn.token)
    ).all()
    db.session.commit()
    return set(held)


def release_dead_holders(host: str, alive) -> int:
    """Turns and trial answers held by worker processes of this host that are gone
    (`alive(pid)` is False) are made claimable now, instead of when their lease runs out: a
    restart picks them up at once."""
    released = _release(Turn, TurnState.OPEN, host, alive)
    released += _release(TrialCell, CellState.RUNNING, host, alive)
    db.session.commit()
    return released


def _release(model, held: str, host: str, alive) -> int:
    mine = model.holder.startswith(f"{host}:", autoescape=True)
    holders = db.session.scalars(
        select(model.holder).where(model.state == held, mine).distinct()
    ).all()
    dead = [h for h in holders if not alive(int(h.rsplit(":", 1)[1]))]
    if not dead:
        return 0
    return db.session.execute(
        update(model)
        .where(model.state == held, model.holder.in_(dead))
        .values(lease_until=database_now(-1))
    ).rowcount
