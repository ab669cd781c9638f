"""`serve` and `worker`: the web server and the worker process, started, watched and stopped.

`make run` runs `serve`: waitress in the foreground and the worker as a process of its own, so
answering messages never holds up a webhook. If the worker dies (a crash, the out-of-memory
killer), `serve` starts it again: a stored message must not wait for a person to notice.
"""

import contextlib
import ctypes
import errno
import ipaddress
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from ..config import WEB_BODY_LIMIT, WEB_CLEANUP_INTERVAL

RESTART_PAUSE = (1.0, 30.0)  # seconds before starting a crashed worker again: first, longest
STEADY = 60.0  # a worker that ran this long before dying starts again at once
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
AIRPLAY_PORT = 5000  # macOS's AirPlay Receiver listens there, and it is our default
FORWARDED = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}


def _raise_interrupt(_signum, _frame):
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    # SIGINT too, explicitly: a shell starts background jobs with SIGINT ignored.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_interrupt)


def _ignore_stop_signals() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


class WorkerProcess:
    """`flask worker` as a child of `serve`, started again whenever it dies unasked."""

    def __init__(self, command: list[str]):
        self.command = command
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        self._watcher = threading.Thread(target=self._watch, name="worker-watch", daemon=True)

    def start(self) -> None:
        self.process = subprocess.Popen(self.command)  # noqa: S603 (our own command line)
        self._watcher.start()

    def _watch(self) -> None:
        pause = RESTART_PAUSE[0]
        while True:
            started = time.monotonic()
            code = self.process.wait()
            if self.stopping.is_set() or code == 0:
                return  # asked to stop (Ctrl-C reaches it too, and it exits 0)
            ran = time.monotonic() - started
            pause = RESTART_PAUSE[0] if ran > STEADY else min(pause * 2, RESTART_PAUSE[1])
            click.echo(
                f"The worker stopped unexpectedly (exit code {code}); "
                f"starting it again in {pause:g} s.",
                err=True,
            )
            if self.stopping.wait(pause):
                return
            self.process = subprocess.Popen(self.command)  # noqa: S603

    def stop(self) -> None:
        self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the worker finishes the answers in progress
            self.process.wait()


def server_options(config) -> dict:
    """Every setting `serve` gives waitress, from the environment (config.py reads it): where it
    listens (HOST, PORT), its threads (WEB_THREADS), how many connections it keeps open
    (WEB_CONNECTION_LIMIT) and for how long when idle (WEB_CHANNEL_TIMEOUT), and which
    forwarded headers it believes (TRUSTED_PROXIES, TRUSTED_PROXY_ADDRESS). waitress's own
    default body limit is a gigabyte, stored in a temporary file before anything is checked."""
    return {
        "host": config["HOST"],
        "port": config["PORT"],
        "threads": config["WEB_THREADS"],
        "connection_limit": config["WEB_CONNECTION_LIMIT"],
        "channel_timeout": config["WEB_CHANNEL_TIMEOUT"],
        "cleanup_interval": WEB_CLEANUP_INTERVAL,
        "max_request_body_size": WEB_BODY_LIMIT,
        **proxy_options(config),
    }


def proxy_options(config) -> dict:
    """waitress settings that agree with the app's ProxyFix (TRUSTED_PROXIES): the forwarded
    headers of the trusted proxy reach the app, anyone else's are dropped before it, so no
    visitor can claim another address or HTTPS by sending them."""
    if not config["TRUSTED_PROXIES"]:
        return {"clear_untrusted_proxy_headers": True}
    return {
        "trusted_proxy": config["TRUSTED_PROXY_ADDRESS"],
        "trusted_proxy_count": config["TRUSTED_PROXIES"],
        "trusted_proxy_headers": FORWARDED,
        "clear_untrusted_proxy_headers": True,
    }


def exposed_without_proxy(config) -> str | None:
    """Why `serve` should not face the internet as it is configured, or None. waitress has no
    limit on how long a request's headers take, so a few slow visitors can hold every
    connection: a proxy in front (its timeouts, its limits per address) is what stops them."""
    host = config["HOST"]
    if config["TRUSTED_PROXIES"] or host == "localhost":
        return None
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    return (
        f"Switchboard listens on {host}, reachable from other machines, and TRUSTED_PROXIES is "
        "not set: nothing in front of it limits slow or oversized requests. Put Caddy or nginx "
        'in front (docs/deploying.md: "Running behind a reverse proxy") and set TRUSTED_PROXIES=1.'
    )


def cannot_listen(host: str, port: int, exc: OSError) -> str | None:
    """Why waitress could not listen, in one line that says what to change; None for a
    failure nobody can fix by choosing another address."""
    if exc.errno == errno.EADDRINUSE:
        mac = " (on a Mac, often the AirPlay Receiver)" if port == AIRPLAY_PORT else ""
        return (
            f"Port {port} is in use by another program{mac}: start on another port, "
            f"e.g. PORT={port + 1} make run"
        )
    if exc.errno == errno.EACCES:
        return (
            f"Port {port} needs administrator rights: start on a port above 1023, "
            "e.g. PORT=5000 make run"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host} is not an address of this machine: set HOST= to one of its addresses "
            "(127.0.0.1 for this machine alone), e.g. HOST=127.0.0.1 make run"
        )
    return None


@click.command("serve")
@click.option("--no-worker", is_flag=True, help="Serve the web side only (run `worker` apart).")
@with_appcontext
def serve(no_worker: bool) -> None:
    """Serve the admin and webhooks with waitress on HOST:PORT, and run the worker beside it."""
    from waitress import create_server

    from .. import sqlite_writes
    from ..extensions import db
    from ..instance_files import exposed

    sqlite_writes.refuse_without_file_locks(db.engine)
    app = current_app._get_current_object()
    for warning in exposed(Path(app.instance_path)):
        click.echo(f"Warning: {warning}", err=True)
    if warning := exposed_without_proxy(app.config):
        click.echo(f"Warning: {warning}", err=True)
    host, port = app.config["HOST"], app.config["PORT"]
    try:
        server = create_server(app, **server_options(app.config))
    except OSError as exc:
        if (reason := cannot_listen(host, port, exc)) is None:
            raise
        raise click.ClickException(reason) from None
    worker = None
    if not no_worker:
        app_path = click.get_current_context().find_object(ScriptInfo).app_import_path or "wsgi"
        worker = WorkerProcess([sys.executable, "-m", "flask", "--app", app_path, "worker"])
        worker.start()
    click.echo(f"Switchboard is running: open http://{host}:{port}/admin/ (Ctrl-C stops it)")
    _stop_on_signals()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        _ignore_stop_signals()
        server.close()
        if worker is not None:
            worker.stop()
        click.echo("Stopped.")


def _give_back_large_buffers() -> None:
    """A photo on its way to the model is a few buffers of several MB. Once glibc has freed
    one such buffer it raises its threshold and keeps the next ones for reuse, in every
    thread's arena: a worker that sent 100 photos kept a gigabyte. A fixed threshold hands
    every buffer over 128 kB back to the system when it is freed."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: its allocator decides
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 128 * 1024)


@click.command("worker")
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    help="Turns in flight; default WORKER_THREADS or 128.",
)
@with_appcontext
def worker(threads: int | None) -> None:
    """Answer messages until Ctrl-C or SIGTERM, then finish the answers in progress."""
    from .. import sqlite_writes
    from ..extensions import db
    from .process import Worker

    sqlite_writes.refuse_without_file_locks(db.engine)
    sqlite_writes.DEFER = True
    _give_back_large_buffers()
    running = Worker(current_app._get_current_object(), threads)
    _stop_on_signals()
    # A stop signal that comes while the worker starts waits until it has started (its threads
    # inherit the mask: only this one ever takes the signal), then stops it like any other.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    running.start()
    click.echo(f"Worker: up to {running.threads} answers in flight.")
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        # Ctrl-C reaches both processes and `serve` then sends SIGTERM as well: the second
        # signal must not cut short the answers being finished.
        _ignore_stop_signals()
        click.echo("Worker stopping: finishing the answers in progress…")
        running.stop()
        click.echo("Worker stopped.")
