"""Delivery benchmark: webhook acknowledgement, answers in flight, exactly once, cost per answer.

Runs the real server as `make run` runs it (`flask serve`: waitress, and the worker as a
process of its own) on a throwaway instance, with loopback fakes of OpenRouter and the Graph
API that keep connections open as the real APIs do, and only ever talks to 127.0.0.1. Every
run reports beside a baseline measured in the same run, since the machine may be busy:
a bare waitress server for latency; for cost, optionally the same runs against another
checkout (`--baseline DIR PYTHON`, e.g. a worktree of the previous release).

    .venv/bin/python bench/delivery_bench.py            (or: make bench)
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import BenchDatabase  # noqa: E402
from tests.support.fake_graph import FakeGraph  # noqa: E402
from tests.support.fakes import CHAT_PATH, FakeOpenRouter, refused_port_url  # noqa: E402
from tests.support.payloads import text_delivery  # noqa: E402
from webapp.clients.whatsapp_webhook import sign  # noqa: E402

SECRET = "bench-app-secret"
ACCESS_TOKEN = "EAAG-bench"
SENDERS = 20
FakeOpenRouter.keep_alive = FakeGraph.keep_alive = True


class Server:
    """`flask serve` of one checkout on a fresh instance and database, and the processes it
    runs; `env` adds to the environment it is started with (WORKER_THREADS…), `workers` starts
    that many `flask worker` processes beside the one `serve` runs."""

    def __init__(self, root, python, instance: str, openrouter, graph, env=None, workers=0):
        self.root, self.python = root, python
        self.database = BenchDatabase(instance)
        port = int(refused_port_url().rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "INSTANCE_PATH": instance,
            "PORT": str(port),
            "OPENROUTER_BASE_URL": openrouter.base_url,
            "WHATSAPP_API_BASE_URL": graph.base_url,
            "ALLOW_PRIVATE_ADDRESSES": "on",  # the fakes listen on loopback
            **self.database.env,
            **(env or {}),
        }
        self.flask("db", "upgrade")
        for name, value in [
            ("openrouter_api_key", "sk-or-v1-bench"),
            ("whatsapp_access_token", ACCESS_TOKEN),
            ("whatsapp_phone_number_id", "106540352242922"),
            ("whatsapp_app_secret", SECRET),
            # Each message is from another customer: the wait for a burst would only delay.
            ("merge_window_seconds", "0"),
        ]:
            self.flask("settings", "set", name, value, check=False)  # older checkouts lack some
        command = [python, "-m", "flask", "--app", "wsgi", "serve"]
        self.process = self.start(command)
        self.workers = [self.start([*command[:-1], "worker"]) for _ in range(workers)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        time.sleep(1.5)  # the worker is up too

    def start(self, command: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            command,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def flask(self, *args: str, check: bool = True) -> None:
        command = [self.python, "-m", "flask", "--app", "wsgi", *args]
        subprocess.run(command, cwd=self.root, env=self.env, check=check, capture_output=True)

    def worker_pid(self) -> int:
        tasks = Path(f"/proc/{self.process.pid}/task").iterdir()
        return next(int(c) for t in tasks for c in (t / "children").read_text().split())

    def stop(self) -> None:
        for process in [self.process, *self.workers]:
            process.send_signal(signal.SIGINT)
        for process in [self.process, *self.workers]:
            process.wait(timeout=60)
        self.database.drop()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now, or with field="VmHWM" the most the process ever had resident."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    """The highest resident memory of the web and worker processes while the run goes on."""

    def __init__(self, server: Server):
        self.server, self.peak = server, {"web": 0.0, "worker": 0.0}
        self.done = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self.done.wait(0.2):
            try:
                pids = {"web": self.server.process.pid, "worker": self.server.worker_pid()}
                for name, pid in pids.items():
                    self.peak[name] = max(self.peak[name], rss_mb(pid))
            except (OSError, StopIteration):
                pass  # a worker being restarted


def post_all(url: str, bodies: list[bytes], rate: float | None) -> list[float]:
    """POST every body from SENDERS concurrent senders; the acknowledgement times in ms.

    With `rate` (webhooks per second, all senders together) each sender keeps to a schedule,
    as Meta's deliveries arrive; without it every sender posts again as soon as it is answered.
    """
    shares = [bodies[i::SENDERS] for i in range(SENDERS)]
    interval = SENDERS / rate if rate else 0.0
    started = time.monotonic() + 0.2

    def sender(index: int) -> list[float]:
        session, times = requests.Session(), []
        for n, body in enumerate(shares[index]):
            wait = started + (n + index / SENDERS) * interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(SECRET, body),
            }
            before = time.perf_counter()
            response = session.post(
                url + "/webhook/whatsapp", data=body, headers=headers, timeout=30
            )
            times.append((time.perf_counter() - before) * 1000)
            assert response.status_code == 200, response.text
        return times

    with ThreadPoolExecutor(SENDERS) as pool:
        return [t for times in pool.map(sender, range(SENDERS)) for t in times]


def in_other_process(function, *args):
    """The senders run in a process of their own, so they never wait for this one's GIL."""
    with ProcessPoolExecutor(1) as process:
        return process.submit(function, *args).result()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))], 1)


def deliveries(count: int, redelivered: float, tag: str) -> list[bytes]:
    bodies = [
        text_delivery(f"3161{n:07d}", f"question {n}", f"wamid.{tag}{n}") for n in range(count)
    ]
    again = random.Random(7).sample(bodies, int(count * redelivered))
    return bodies + again  # the redeliveries arrive while the originals are being answered


def replies_per_customer(graph: FakeGraph) -> dict[str, int]:
    counts: dict[str, int] = {}
    for to, _body, _context in graph.sent_texts():
        counts[to] = counts.get(to, 0) + 1
    return counts


def wait_for_replies(graph: FakeGraph, expected: int, limit: float, database) -> float | None:
    """Seconds until `expected` customers had a reply, or every message ended another way
    (None: not within `limit`)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if len(replies_per_customer(graph)) >= expected or all_ended(database, expected):
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def all_ended(database: BenchDatabase, expected: int) -> bool:
    ended = database.value(
        "SELECT count(*) FROM messages WHERE direction = 'in'"
        " AND state NOT IN ('received', 'processing')"
    )
    return ended >= expected


def exactly_once(graph: FakeGraph, customers: int, database: BenchDatabase) -> dict:
    """Every acknowledged message stored and ended (answered, or failed with its reason),
    and no customer answered twice. A send cut off by a crash is "unknown": not sent again,
    shown to the owner with Send again, so it is neither lost nor a duplicate."""
    time.sleep(1.0)  # room for a late duplicate to show up
    counts = replies_per_customer(graph)
    states = dict(database.rows(
        "SELECT state, count(*) FROM messages WHERE direction = 'in' GROUP BY state"
    ))  # fmt: skip
    unknown = database.value(
        "SELECT count(*) FROM messages WHERE direction = 'out' AND state = 'unknown'"
    )
    stored = sum(states.values())
    return {
        "lost": customers - stored + states.get("received", 0) + states.get("processing", 0),
        "duplicates": sum(n - 1 for n in counts.values()),
        "answered": len(counts),
        "unknown_sends": unknown,
    }


def bare_server(bodies: list[bytes], rate: float | None) -> list[float]:
    """The baseline for latency: waitress with the same threads, answering 200 at once."""
    from waitress import create_server

    def app(environ, start_response):
        environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "ok"}']

    from webapp.config import WEB_THREADS

    server = create_server(app, host="127.0.0.1", port=0, threads=WEB_THREADS)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        return in_other_process(post_all, f"http://127.0.0.1:{server.effective_port}", bodies, rate)
    finally:
        server.close()


def run_acks(root, python, name, count, rate, model_seconds=0.0, kill_worker=False) -> dict:
    """Webhooks from 20 senders while the worker answers; 10% of them are redeliveries."""
    bodies = deliveries(count, 0.10, name.replace("-", ""))
    bare = bare_server(bodies, rate)
    with FakeOpenRouter() as openrouter, FakeGraph() as graph, tempfile.TemporaryDirectory() as d:
        openrouter.echo(delay=model_seconds)
        server = Server(root, python, d, openrouter, graph)
        memory = PeakMemory(server)
        try:
            web, worker = server.process.pid, server.worker_pid()
            cpu = cpu_seconds(web), cpu_seconds(worker)
            started = time.monotonic()
            if kill_worker:
                threading.Timer(2.0, os.kill, (worker, signal.SIGKILL)).start()
            acks = in_other_process(post_all, server.url, bodies, rate)
            answered_in = wait_for_replies(graph, count, 180, server.database)
            answered_in = answered_in and round(time.monotonic() - started, 2)
            web_cpu = cpu_seconds(web) - cpu[0]
            worker_cpu = None if kill_worker else cpu_seconds(worker) - cpu[1]
            counted = exactly_once(graph, count, server.database)
        finally:
            memory.done.set()
            server.stop()
    result = {
        "run": name,
        "webhooks": len(bodies),
        "redeliveries": len(bodies) - count,
        "rate_per_s": rate or "as fast as answered",
        "ack_ms_p50": percentile(acks, 0.5),
        "ack_ms_p99": percentile(acks, 0.99),
        "bare_ack_ms_p50": percentile(bare, 0.5),
        "bare_ack_ms_p99": percentile(bare, 0.99),
        "all_ended_in_s": answered_in,
        **counted,
        "web_cpu_ms_per_webhook": round(web_cpu / len(bodies) * 1000, 2),
        "rss_web_mb": round(memory.peak["web"]),
        "rss_worker_mb": round(memory.peak["worker"]),
    }
    if worker_cpu is not None:
        result["worker_cpu_ms_per_answer"] = round(worker_cpu / count * 1000, 2)
    return result


def run_slow_model(root, python, customers: int, model_seconds: float) -> dict:
    """Many customers at once and a slow model: how many answers the worker keeps in flight."""
    bodies = deliveries(customers, 0.0, f"SLOW{int(model_seconds)}x")
    with FakeOpenRouter() as openrouter, FakeGraph() as graph, tempfile.TemporaryDirectory() as d:
        openrouter.echo(delay=model_seconds)
        server = Server(root, python, d, openrouter, graph)
        try:
            started = time.monotonic()
            in_other_process(post_all, server.url, bodies, None)
            answered_in = wait_for_replies(graph, customers, 120, server.database)
            answered_in = answered_in and round(time.monotonic() - started, 2)
            counted = exactly_once(graph, customers, server.database)
        finally:
            server.stop()
    return {
        "run": f"{customers}-customers-{model_seconds:g}s-model",
        "all_ended_in_s": answered_in,
        **counted,
    }


def run_idle_start(root, python, messages: int = 30) -> dict:
    """An idle worker: time from the webhook's 200 to the model being asked."""
    with FakeOpenRouter() as openrouter, FakeGraph() as graph, tempfile.TemporaryDirectory() as d:
        openrouter.echo()
        server = Server(root, python, d, openrouter, graph)
        session, delays = requests.Session(), []
        try:
            worker = server.worker_pid()
            idle_cpu = cpu_seconds(worker)
            time.sleep(10)
            idle_cpu = (cpu_seconds(worker) - idle_cpu) / 10
            for n in range(messages):
                body = text_delivery(f"3162{n:07d}", "hello", f"wamid.IDLE{n}")
                headers = {"X-Hub-Signature-256": sign(SECRET, body)}
                session.post(server.url + "/webhook/whatsapp", data=body, headers=headers)
                acked = time.monotonic()
                while len([r for r in openrouter.requests if r.path == CHAT_PATH]) <= n:
                    time.sleep(0.001)
                asked = [r for r in openrouter.requests if r.path == CHAT_PATH][n].at
                delays.append((asked - acked) * 1000)
                time.sleep(random.Random(n).uniform(0.3, 0.7))
        finally:
            server.stop()
    return {
        "run": "idle-worker-start",
        "messages": messages,
        "start_ms_p50": percentile(delays, 0.5),
        "start_ms_max": round(max(delays), 1),
        "idle_worker_cpu_ms_per_s": round(idle_cpu * 1000, 1),
    }


def run_cost(root, python, label: str, messages: int = 1000, rate: float = 50) -> dict:
    """CPU seconds per answer (an instant model) at a steady 50 messages a second."""
    result = run_acks(root, python, f"cost-{label}", messages, rate)
    keep = ("run", "worker_cpu_ms_per_answer", "web_cpu_ms_per_webhook", "rss_web_mb",
            "rss_worker_mb", "lost", "duplicates")  # fmt: skip
    return {key: result[key] for key in keep if key in result}


def run_selected(runs, only: str | None) -> None:
    """Run each (name, run) whose name contains `only` (every one without it), printing each
    result as a line of JSON as soon as it is in."""
    for name, run in runs:
        if not only or only in name:
            print(json.dumps(run()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", nargs=2, metavar=("DIR", "PYTHON"),
                        help="also measure the cost of another checkout, side by side")  # fmt: skip
    parser.add_argument("--only", help="run only the runs whose name contains this")
    args = parser.parse_args()
    here = (ROOT, sys.executable)
    runs = [
        ("ack-50-per-s", lambda: run_acks(*here, "ack-50-per-s", 500, 50)),
        ("ack-saturated", lambda: run_acks(*here, "ack-saturated", 1000, None)),
        ("kill-worker", lambda: run_acks(*here, "kill-worker", 1000, 100, kill_worker=True)),
        ("slow-1s", lambda: run_slow_model(*here, 100, 1.0)),
        ("slow-10s", lambda: run_slow_model(*here, 100, 10.0)),
        ("idle-start", lambda: run_idle_start(*here)),
        ("cost", lambda: run_cost(*here, "this-checkout")),
    ]
    if args.baseline:
        other = (Path(args.baseline[0]).resolve(), args.baseline[1])
        runs.append(("cost", lambda: run_cost(*other, "baseline")))
    run_selected(runs, args.only)


if __name__ == "__main__":
    main()
