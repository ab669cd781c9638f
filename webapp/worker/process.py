"""The worker: customers' turns, trial cells and the owner's knowledge sources on pools of
threads fed by one claim loop, the heartbeat that renews the turns' leases, the periodic jobs;
a clean stop on request.

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
from datetime import timedelta

from flask import Flask

from .. import heartbeats
from ..clients import http
from ..extensions import db
from ..knowledge import indexing
from ..replies import leases, runs
from ..replies.leases import Lease
from ..snapshot import Snapshot
from . import jobs, trial_cells
from .claim_loop import ClaimLoop, Lane

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, app: Flask, threads: int | None = None, poll: float = 0.05, holder=None):
        self.app = app
        self.threads = threads or app.config["WORKER_THREADS"]
        self.lease_for = timedelta(seconds=app.config["LEASE_SECONDS"])
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, Lease] = {}  # by token: the leases the heartbeat renews
        self._turns = Lane(app, "turn", self.threads, self._claim_turns, self._run_turn)
        self._cells = Lane(app, "trial", app.config["TRIAL_THREADS"], self._claim_cells,
                           lambda claim: trial_cells.run(claim, app.config))  # fmt: skip
        # The owner's knowledge sources, one at a time: a long PDF never holds a turn.
        self._sources = Lane(app, "source", 1, lambda limit, _expired: indexing.claim_some(limit),
                             lambda claim: indexing.read(*claim, stop=self.stopping))  # fmt: skip
        # `poll`: seconds an idle worker waits before looking for work again
        self._loop = ClaimLoop([self._turns, self._cells, self._sources], self.stopping, poll)
        self._threads: list[threading.Thread] = []
        self._ctx = runs.RunContext(app, self.stopping)
        http.size_pools(self.threads + self._cells.threads)  # a connection kept for each

    @property
    def in_flight(self) -> int:
        return self._turns.in_flight

    def start(self) -> "Worker":
        with self.app.app_context():
            released = leases.release_dead_holders(socket.gethostname(), self._alive)
            if released:
                log.warning("took over %s turns and trial answers a stopped worker left", released)
        self._beat()
        for target in (self._claim_loop, self._heartbeat_loop, self._jobs_loop):
            thread = threading.Thread(target=target, name=target.__name__, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Claim nothing more, let the turns and cells in flight finish, then stop the
        heartbeat."""
        self.stopping.set()
        self._loop.wake.set()
        self._threads[0].join()
        self._turns.finish()
        self._cells.finish()
        self._sources.finish()
        self._stopped.set()
        for thread in self._threads[1:]:
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
            self._loop.run()

    def _claim_turns(self, limit: int, expired: bool) -> list[runs.Start]:
        claimed = leases.claim(self.holder, limit, self.lease_for, expired, commit=False)
        if not claimed:
            db.session.commit()
            return []
        # Read in the claim's transaction, not before it: a setting saved a moment before
        # these messages arrived is in force for them.
        starts = runs.prepare(claimed, Snapshot.load(self.app.config, commit=False))
        db.session.commit()
        with self._lock:
            for start in starts:
                self._running[start.lease.token] = start.lease
        return starts

    def _run_turn(self, start: runs.Start) -> None:
        try:
            runs.run(start, self._ctx)
        finally:
            with self._lock:
                self._running.pop(start.lease.token, None)

    def _claim_cells(self, limit: int, _expired: bool) -> list[trial_cells.Claim]:
        # Cells whose worker stopped are claimable like pending ones: every claim looks for both.
        return trial_cells.claim(self.holder, limit)

    def _heartbeat_loop(self) -> None:
        every = min(heartbeats.EVERY, self.lease_for.total_seconds() / 6)
        while not self._stopped.wait(every):
            self._beat()

    def _beat(self) -> None:
        """Renew the leases of the turns in flight (until their horizon) and say "alive"."""
        now = time.monotonic()
        with self._lock:
            renewing = {t: lease for t, lease in self._running.items() if lease.horizon > now}
        with self.app.app_context():
            try:
                held = leases.renew(list(renewing), self.lease_for)
                heartbeats.beat(self.holder, {"in_flight": self.in_flight, "threads": self.threads})
            except Exception:
                log.exception("renewing leases failed")
                return
        for token, lease in renewing.items():
            if token in held:
                lease.confirmed = now
            else:
                lease.lost = True  # its run stops before its next write or call out

    def _jobs_loop(self) -> None:
        jobs.run_until_stopped(self.app, self.stopping)
