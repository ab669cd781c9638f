"""The worker's periodic jobs: each runs on one worker per period, however many there are."""

import logging
import threading
import time
from datetime import timedelta

from flask import Flask

from .. import checks, state, stats
from ..data import retention
from ..knowledge import embeddings
from ..money import budget_alerts
from ..money import card as cost_card
from ..people import alerts, takeover
from ..replies import delivery

log = logging.getLogger(__name__)
JOBS = {  # name: (every, job)
    # statuses that can apply now, sends and flow questions a crash abandoned
    "sweep": (timedelta(seconds=10), delivery.sweep),
    "dashboard": (timedelta(minutes=1), stats.refresh),
    "cost_card": (timedelta(minutes=1), cost_card.refresh),  # on a big log, summed here
    "retention": (timedelta(hours=1), retention.purge),
    "catalog": (timedelta(days=1), checks.daily_catalog_check),  # prices, retired model IDs
    # the knowledge's chunks that lack a vector by the embedding model (a run: 8 s at most)
    "embeddings": (timedelta(seconds=10), embeddings.embed_chunks),
    # a team member's hold past `takeover_minutes`: the bot answers that customer again
    "holds": (timedelta(seconds=15), takeover.resume_due),
    # the team told that a customer needs a person (WhatsApp, e-mail)
    "alerts": (timedelta(seconds=5), alerts.send_due),
    # the owner told once a budget is 80 % or fully spent (a turn past it tells at once)
    "budget": (timedelta(seconds=30), budget_alerts.check),
}


def run_until_stopped(app: Flask, stopping: threading.Event) -> None:
    """Look at each job when its period is over here; run it if no other worker did."""
    next_look = dict.fromkeys(JOBS, 0.0)
    while not stopping.wait(min(next_look.values()) - time.monotonic()):
        for name, (every, job) in JOBS.items():
            if time.monotonic() < next_look[name]:
                continue
            next_look[name] = time.monotonic() + every.total_seconds()
            with app.app_context():
                try:
                    if state.due(name, every):
                        job()
                except Exception:
                    log.exception("the periodic job %s failed", name)
