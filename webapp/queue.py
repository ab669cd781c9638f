"""The task queue: huey on a SQLite file in the instance folder, or on Redis via QUEUE_URL."""

import logging

from huey import Huey, SqliteHuey
from huey.consumer import Consumer

log = logging.getLogger(__name__)


def make_huey(url: str) -> Huey:
    if url.startswith(("redis://", "rediss://", "unix://")):
        from huey import RedisHuey

        return RedisHuey("switchboard", url=url, results=False)
    if not url.startswith("sqlite:///"):
        raise ValueError(f"QUEUE_URL must start with sqlite:/// or redis://, not {url!r}.")
    # No results are kept: jobs write what they did to the database.
    return SqliteHuey(
        "switchboard", filename=url.removeprefix("sqlite:///"), results=False, timeout=10
    )


class EmbeddedConsumer(Consumer):
    """Worker threads inside a host process (web server, CLI, tests) that owns the signals."""

    def _set_signal_handlers(self):
        pass


def make_consumer(huey: Huey, workers: int, periodic: bool = True) -> Consumer:
    # An idle worker polls every 50–100 ms instead of backing off to huey's default 10 s,
    # so a new message is picked up at once; a SQLite poll costs next to nothing.
    return EmbeddedConsumer(
        huey,
        workers=workers,
        worker_type="thread",
        periodic=periodic,
        initial_delay=0.05,
        backoff=1.15,
        max_delay=0.1,
    )


def check(huey: Huey) -> str:
    """'ok' when the queue storage answers (used by /healthz)."""
    try:
        huey.pending_count()
    except Exception as exc:  # any storage failure means "not healthy", whatever its type
        log.warning("queue check failed: %s", exc)
        return f"error: {exc.__class__.__name__}"
    return "ok"
