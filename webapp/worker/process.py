"""The worker: turns in flight on a pool of threads, the heartbeat that renews their leases,
the periodic jobs (sweeps, dashboard figures, retention, the model catalog), trial cells on a
pool of their own (webapp/trial_cells.py); a clean stop on request.

Model calls and Graph sends are waits, not work, so a turn is a thread: 128 of them keep
that many answers in flight for a few megabytes, with code that reads top to bottom and the
same blocking database driver the web side uses. (gevent would need every library patched;
asyncio would need an async twin of every client and of the database layer.)
"""

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, has_app_context

from .. import checks, heartbeats, state, stats
from ..clients import http
from ..data import retention
from ..extensions import db
from ..replies import delivery, leases, runs
from ..replies.leases import Lease
from ..snapshot import Snapshot
from . import claim_loop
from .trial_cells import CellRunner

log = logging.getLogger(__name__)
EXPIRED_EVERY = 1.0  # seconds between looks for turns whose run stopped renewing
JOBS = (  # (name, every): each runs on one worker per period, however many there are
    ("sweep", timedelta(seconds=10)),
    ("dashboard", timedelta(minutes=1)),
    ("retention", timedelta(hours=1)),
    ("catalog", timedelta(days=1)),  # prices and retired model IDs
)


@dataclass
class Running:
    lease: Lease
    renew_until: float  # time.monotonic(); past it the lease is left to run out


class Worker:
    def __init__(self, app: Flask, threads: int | None = None, poll: float = 0.05, holder=None):
        self.app = app
        self.threads = threads or app.config["WORKER_THREADS"]
        self.poll = poll  # seconds an idle worker waits before looking for work again
        self.lease_for = timedelta(seconds=app.config["LEASE_SECONDS"])
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, Running] = {}
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="turn")
        self._loops: list[threading.Thread] = []
        self._ctx = runs.RunContext(app, self.stopping, self._renew_until)
        self._cells = CellRunner(app, self.holder, self.stopping, poll)
        http.size_pools(self.threads + self._cells.threads)  # a connection kept for each

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def start(self) -> "Worker":
        with self.app.app_context():
            released = leases.release_dead_holders(socket.gethostname(), self._alive)
            if released:
                log.warning("took over %s turns and trial answers a stopped worker left", released)
        self._beat()
        self._cells.start()
        for target in (self._claim_loop, self._heartbeat_loop, self._jobs_loop):
            thread = threading.Thread(target=target, name=target.__name__, daemon=True)
            thread.start()
            self._loops.append(thread)
        return self

    def stop(self) -> None:
        """Claim nothing more, let the turns in flight finish, then stop the heartbeat."""
        self.stopping.set()
        self._wake.set()
        self._loops[0].join()
        self._pool.shutdown(wait=True)
        self._cells.stop()
        self._stopped.set()
        for thread in self._loops[1:]:
            thread.join()
        with self.app.app_context():
            heartbeats.stopped(self.holder)

    def _alive(self, pid: int) -> bool:
        if pid == os.getpid():  # a previous life of this very process (a container restart)
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _claim_loop(self) -> None:
        with self.app.app_context():  # one for the loop's life: it polls many times a second
            self._claim_until_stopped()

    def _claim_until_stopped(self) -> None:
        claim_loop.claim_until_stopped(
            self.stopping, self._wake, self.poll, lambda: self.threads - self.in_flight,
            self._claim_and_submit, claim_loop.Changes(db.engine), EXPIRED_EVERY,
        )  # fmt: skip

    def _claim_and_submit(self, limit: int, expired: bool) -> int:
        claimed = self._claim(limit, expired)
        for start in claimed:
            renew_until = time.monotonic() + self.lease_for.total_seconds() * 10
            with self._lock:
                self._running[start.lease.token] = Running(start.lease, renew_until)
            self._pool.submit(self._run, start)
        return len(claimed)

    def _claim(self, limit: int, expired: bool) -> list[runs.Start]:
        try:
            claimed = leases.claim(self.holder, limit, self.lease_for, expired, commit=False)
            if not claimed:
                db.session.commit()
                return []
            # Read in the claim's transaction, not before it: a setting saved a moment before
            # these messages arrived is in force for them.
            starts = runs.prepare(claimed, Snapshot.load(self.app.config, commit=False))
            db.session.commit()
            return starts
        except Exception:
            db.session.rollback()
            log.exception("claiming turns failed; trying again in a moment")
            time.sleep(1)
            return []

    def _run(self, start: runs.Start) -> None:
        if not has_app_context():
            # Each of the pool's threads keeps one app context (and database session) for
            # its life: a turn needs one, and making one a turn costs more than it should.
            self.app.app_context().push()
        try:
            runs.run(start, self._ctx)
        finally:
            with self._lock:
                self._running.pop(start.lease.token, None)
            self._wake.set()

    def _renew_until(self, lease: Lease, until: float) -> None:
        with self._lock:
            if running := self._running.get(lease.token):
                running.renew_until = until

    def _heartbeat_loop(self) -> None:
        every = min(heartbeats.EVERY, self.lease_for.total_seconds() / 6)
        while not self._stopped.wait(every):
            self._beat()

    def _beat(self) -> None:
        """Renew the leases of the turns in flight (until their deadline) and say "alive"."""
        now = time.monotonic()
        with self._lock:
            renewing = {t: r for t, r in self._running.items() if r.renew_until > now}
        with self.app.app_context():
            try:
                held = leases.renew(list(renewing), self.lease_for)
                beat = {"in_flight": self.in_flight, "threads": self.threads}
                heartbeats.beat(self.holder, beat)
            except Exception:
                log.exception("renewing leases failed")
                return
        for token, running in renewing.items():
            if token not in held:
                running.lease.lost = True  # its run stops before its next write

    def _jobs_loop(self) -> None:
        jobs = {
            "sweep": delivery.sweep,
            "dashboard": stats.refresh,
            "retention": retention.purge,
            "catalog": checks.daily_catalog_check,
        }
        next_look = {name: 0.0 for name, _ in JOBS}
        while not self.stopping.wait(min(next_look.values()) - time.monotonic()):
            for name, every in JOBS:
                if time.monotonic() < next_look[name]:
                    continue
                next_look[name] = time.monotonic() + every.total_seconds()
                with self.app.app_context():
                    try:
                        if state.due(name, every):
                            jobs[name]()
                    except Exception:
                        log.exception("the periodic job %s failed", name)
