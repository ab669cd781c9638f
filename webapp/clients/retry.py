"""Calls tried again within a deadline: how long to wait between attempts (`Retry`), when
to stop (`Deadline`), and the loop that does both (`with_retries`). Used by every caller of
OpenRouter and the Graph API."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..troubleshooting import UpstreamError, trouble

T = TypeVar("T")
MIN_ATTEMPT_SECONDS = 1.0  # an attempt with less time than this left is not started


class Held(Protocol):
    """What a run holds while it calls out (a turn's lease): `check` raises once it is lost."""

    def check(self) -> None: ...


@dataclass(frozen=True)
class Retry:
    """How failed calls are tried again (the app's RETRY_* config; tests make it quick)."""

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    @classmethod
    def from_config(cls, config) -> "Retry":
        return cls(config["RETRY_ATTEMPTS"], config["RETRY_BASE_DELAY"], config["RETRY_MAX_DELAY"])

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter, honouring the server's Retry-After, within a cap."""
        jitter = random.uniform(0, self.base_delay)  # noqa: S311 (jitter, not crypto)
        delay = self.base_delay * 2 ** (attempt - 1) + jitter
        return min(max(delay, retry_after or 0), self.max_delay)


class Deadline:
    """A moment by which work must be done; attempts that cannot finish by then do not start."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def earlier(self, seconds: float) -> "Deadline":
        """The moment `seconds` before this one: what a step must leave for the steps after."""
        sooner = Deadline(0)
        sooner.seconds, sooner.at = self.seconds - seconds, self.at - seconds
        return sooner


def with_retries(
    call: Callable[[int, float], T],
    log_failure: Callable[[int, UpstreamError, int], None],
    retry: Retry,
    deadline: Deadline,
    out_of_time: Callable[[], UpstreamError],
    lease: Held | None = None,
) -> T:
    """`call(attempt, seconds_left)`, tried again on transient failures while the deadline
    leaves room for another attempt; every failed attempt is logged."""
    for attempt in range(1, retry.attempts + 1):
        if lease is not None:
            lease.check()  # a run that lost its turn spends nothing more on it
        left = deadline.left()
        if left < MIN_ATTEMPT_SECONDS:
            raise out_of_time()
        started = time.monotonic()
        try:
            return call(attempt, left)
        except UpstreamError as exc:
            log_failure(attempt, exc, int((time.monotonic() - started) * 1000))
            if attempt == retry.attempts or not trouble(exc.kind).transient:
                raise
            pause = retry.delay(attempt, exc.retry_after)
            if pause > deadline.left() - MIN_ATTEMPT_SECONDS:
                raise  # no time for another attempt before the deadline
            time.sleep(pause)
    raise AssertionError("unreachable")
