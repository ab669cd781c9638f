"""Throughput benchmark: messages answered per second with an instant model, SQLite beside
PostgreSQL, one worker beside two, in the same run; the CPU each process spent on a message
and the bytes a message leaves in the database.

Runs the real server as `make run` runs it (`flask serve`, whose worker is a process of its
own), and for two workers one `flask worker` process beside it, on a throwaway instance, with
loopback fakes of OpenRouter (answering at once) and the Graph API, and only ever talks to
127.0.0.1. 20 senders post the webhooks of MESSAGES customers as fast as they are
acknowledged; the figure is messages ended (answered) per second, from the first webhook to
the last answer. CPU is read from /proc: the web process, the workers, PostgreSQL (its server
process, its live children and the children it reaped), this process (the fakes), and the
whole machine, so a saturated machine shows as such; on PostgreSQL also the connections the
processes held, and at the end an idle install's CPU. The PostgreSQL runs need a server: pass
its admin URL with --postgresql or DATABASE_URL (`.ci/postgres start DIR` starts one); each
run gets a database of its own there, dropped after.

    .venv/bin/python bench/scale_bench.py --postgresql postgresql+psycopg://…
"""

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delivery_bench import (  # noqa: E402
    Server,
    cpu_seconds,
    deliveries,
    exactly_once,
    in_other_process,
    post_all,
    run_selected,
    wait_for_replies,
)
from tests.support.fake_graph import FakeGraph  # noqa: E402
from tests.support.fakes import FakeOpenRouter  # noqa: E402

MESSAGES = 3000
TICK = os.sysconf("SC_CLK_TCK")
FakeOpenRouter.keep_alive = FakeGraph.keep_alive = True


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent on anything but idling, all cores together."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK  # less idle and iowait


def postgres_seconds(server: Server) -> float:
    """CPU seconds of the PostgreSQL server: its own, its live processes' (backends, WAL
    writer, checkpointer…) and those of the processes it has reaped (closed connections)."""
    folder = Path(server.database.value("SHOW data_directory"))  # the server runs here too
    postmaster = int((folder / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / TICK
    for task in Path(f"/proc/{postmaster}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


def cpu_now(server: Server, pids: dict[str, list[int]]) -> dict[str, float]:
    now = {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}
    if server.database.name is not None:
        now["postgres"] = postgres_seconds(server)
    now["fakes"] = time.process_time()
    now["machine"] = machine_busy_seconds()
    return now


@contextlib.contextmanager
def database_server(url: str | None):
    """DATABASE_URL as the bench's Server reads it: a PostgreSQL admin URL, or none (SQLite)."""
    before = os.environ.pop("DATABASE_URL", None)
    if url:
        os.environ["DATABASE_URL"] = url
    try:
        yield
    finally:
        os.environ.pop("DATABASE_URL", None)
        if before is not None:
            os.environ["DATABASE_URL"] = before


class PeakConnections:
    """The most PostgreSQL connections the server's processes held at once during a run."""

    def __init__(self, server: Server):
        self.server, self.peak = server, 0
        self.done = threading.Event()
        if server.database.name is not None:
            threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self.done.wait(0.25):
            self.peak = max(self.peak, self.server.database.connections())


def run_throughput(name: str, database_url: str | None, workers: int) -> dict:
    """MESSAGES customers write at once; how fast `workers` worker processes answer them all."""
    bodies = deliveries(MESSAGES, 0.0, name.replace("-", ""))
    with (
        database_server(database_url),
        FakeOpenRouter() as openrouter,
        FakeGraph() as graph,
        tempfile.TemporaryDirectory() as d,
    ):
        openrouter.echo()
        server = Server(ROOT, sys.executable, d, openrouter, graph, workers=workers - 1)
        try:
            empty = server.database.size_bytes()
            pids = {
                "web": [server.process.pid],
                "workers": [server.worker_pid()] + [p.pid for p in server.workers],
            }
            idle = server.database.connections() if server.database.name else None
            before, started = cpu_now(server, pids), time.monotonic()
            connections = PeakConnections(server)
            in_other_process(post_all, server.url, bodies, None)
            ended_in = wait_for_replies(graph, MESSAGES, 300, server.database)
            wall = time.monotonic() - started
            spent = {k: v - before[k] for k, v in cpu_now(server, pids).items()}
            connections.done.set()
            counted = exactly_once(graph, MESSAGES, server.database)
            stored = stored_bytes(server, empty)
            held = {}
            if server.database.name is not None:  # the pools keep what they opened
                held = {"connections_idle_before": idle, "connections_peak": connections.peak,
                        "connections_held_after": server.database.connections()}  # fmt: skip
        finally:
            server.stop()
    per_message = {f"{k}_cpu_ms_per_msg": round(v / MESSAGES * 1000, 2) for k, v in spent.items()}
    return {
        "run": name,
        "messages": MESSAGES,
        "all_ended_in_s": ended_in and round(wall, 2),
        "messages_per_s": ended_in and round(MESSAGES / wall, 1),
        **counted,
        **per_message,
        "machine_cores_busy": round(spent["machine"] / wall, 2),
        "cores": os.cpu_count(),
        **held,
        **stored,
    }


def run_idle(name: str, database_url: str | None, seconds: float = 10) -> dict:
    """What an install costs with nothing to answer: the worker looking for work."""
    with (
        database_server(database_url),
        FakeOpenRouter() as openrouter,
        FakeGraph() as graph,
        tempfile.TemporaryDirectory() as d,
    ):
        server = Server(ROOT, sys.executable, d, openrouter, graph)
        try:
            pids = {"web": [server.process.pid], "workers": [server.worker_pid()]}
            before = cpu_now(server, pids)
            time.sleep(seconds)
            spent = {k: v - before[k] for k, v in cpu_now(server, pids).items()}
        finally:
            server.stop()
    keep = ("web", "workers", "postgres")
    return {"run": name, **{f"{k}_cpu_ms_per_s": round(spent[k] / seconds * 1000, 1)
                            for k in keep if k in spent}}  # fmt: skip


def stored_bytes(server: Server, empty: int) -> dict:
    """What the run's messages (customer's and reply), turns and log rows take on disk."""
    database = server.database
    rows = {
        table: database.value(f"SELECT count(*) FROM {table}")  # noqa: S608 (our own names)
        for table in ("messages", "request_log", "turns")
    }
    grown = database.size_bytes() - empty
    result = {f"{table}_rows": count for table, count in rows.items()}
    result["db_grew_bytes_per_msg"] = round(grown / MESSAGES)
    if database.name is not None:
        for table in rows:
            size = database.size_bytes(table)
            result[f"{table}_bytes_per_row"] = round(size / max(rows[table], 1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", default=os.environ.get("DATABASE_URL"),
                        help="a PostgreSQL server's admin URL (default: DATABASE_URL)")  # fmt: skip
    parser.add_argument("--only", help="run only the runs whose name contains this")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run them all this many times, one after the other")  # fmt: skip
    args = parser.parse_args()
    if not (args.postgresql or "").startswith("postgresql"):
        parser.error("a PostgreSQL server is needed: --postgresql postgresql+psycopg://…")
    databases = (("sqlite", None), ("postgresql", args.postgresql))
    runs = [
        (f"{kind}-{workers}-worker{'s' * (workers > 1)}", url, workers)
        for workers in (1, 2)
        for kind, url in databases
    ]
    idle = [(f"{kind}-idle", url) for kind, url in databases]
    # Rounds alternate the configurations, so a busy spell on a shared machine weighs on each.
    run_selected(
        ([(r[0], lambda r=r: run_throughput(*r)) for r in runs] * args.rounds)
        + [(r[0], lambda r=r: run_idle(*r)) for r in idle],
        args.only,
    )


if __name__ == "__main__":
    main()
