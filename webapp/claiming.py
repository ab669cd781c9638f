"""The claim loop the worker runs for turns and for trial cells: claim while the pool has
room, look at the database only when it may have changed, and now and then for work whose
holder stopped."""

import os
import threading
import time
from collections.abc import Callable

# Claimed per transaction: enough to spare most of a transaction each, few enough that a
# webhook never waits long for SQLite's write lock behind a claim.
CLAIM_BATCH = 8


class Changes:
    """Whether a SQLite database may have changed since the last look: every commit writes
    to its WAL file, so a stat (microseconds) spares an idle worker a query 20 times a
    second. On other databases it always says "maybe"."""

    def __init__(self, url):
        self.wal = f"{url.database}-wal" if url.get_backend_name() == "sqlite" else None
        self.last = None

    def seen(self) -> bool:
        if self.wal is None:
            return True
        try:
            info = os.stat(self.wal)
            now = (info.st_ino, info.st_size, info.st_mtime_ns)
        except OSError:
            now = None
        changed, self.last = now is None or now != self.last, now
        return changed


def claim_until_stopped(
    stopping: threading.Event,
    wake: threading.Event,
    poll: float,
    room: Callable[[], int],
    claim: Callable[[int, bool], int],
    changes: Changes,
    expired_every: float,
) -> None:
    """Until `stopping`: `claim(limit, expired)` claims up to `limit` (and, with `expired`,
    work whose holder stopped), hands it to the pool and says how many it got. `room()` is
    what the pool can take; `wake` is set when a run ends."""
    next_expired = 0.0
    while not stopping.is_set():
        free = room()
        if free <= 0:  # every thread is busy: claim again when one is done
            wake.wait(poll)
            wake.clear()
            continue
        expired = time.monotonic() >= next_expired
        if expired:
            next_expired = time.monotonic() + expired_every
        elif not changes.seen():  # nothing was written: nothing new can be waiting
            stopping.wait(poll)
            continue
        limit = min(free, CLAIM_BATCH)
        if claim(limit, expired) < limit:
            # Everything waiting is claimed: what arrives meanwhile is claimed together a
            # moment later, one query for many.
            stopping.wait(poll)
