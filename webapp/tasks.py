"""Background jobs. Each takes ids and re-reads state, so a retried or repeated job is safe."""

import logging
from types import SimpleNamespace

from flask import Flask, current_app
from huey import Huey, crontab

log = logging.getLogger(__name__)


def register(huey: Huey, app: Flask) -> SimpleNamespace:
    """Define the jobs on this app's queue; both the web side and the workers call this."""

    @huey.task(name="reply_to_message")
    def reply_to_message(message_id: int) -> None:
        from . import bot, settings

        with app.app_context(), settings.read_once():
            bot.handle_inbound(message_id)

    @huey.periodic_task(crontab(minute="*"), name="requeue_stuck_messages")
    def requeue_stuck_messages() -> None:
        from . import inbox

        with app.app_context():
            inbox.fail_abandoned_sends()
            for message_id in inbox.stuck_message_ids():
                log.warning("message %s was not finished; queueing it again", message_id)
                reply_to_message(message_id)

    @huey.periodic_task(crontab(minute="*"), name="refresh_dashboard")
    def refresh_dashboard() -> None:
        from . import stats

        with app.app_context():
            stats.refresh()

    @huey.periodic_task(crontab(minute="7"), name="apply_retention")
    def apply_retention() -> None:
        from . import retention

        with app.app_context():
            removed = retention.purge()
            if any(removed.values()):
                log.info("retention: removed %s", removed)

    return SimpleNamespace(
        reply_to_message=reply_to_message,
        requeue_stuck_messages=requeue_stuck_messages,
        apply_retention=apply_retention,
        refresh_dashboard=refresh_dashboard,
    )


def enqueue_reply(message_id: int) -> None:
    current_app.extensions["tasks"].reply_to_message(message_id)
