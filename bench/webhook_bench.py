"""Webhook benchmark: acknowledgement latency, throughput with a slow model, exactly-once replies.

Runs the real server (`flask serve`: waitress and the huey worker) on a throwaway instance,
with loopback fakes of OpenRouter and the Graph API, and only ever talks to 127.0.0.1.

    .venv/bin/python bench/webhook_bench.py            (or: make bench)
"""

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_graph import FakeGraph  # noqa: E402
from tests.fakes import FakeOpenRouter, refused_port_url  # noqa: E402
from tests.payloads import text_delivery  # noqa: E402
from webapp.clients.whatsapp_webhook import sign  # noqa: E402

SECRET = "bench-app-secret"
SENDERS = 20


def flask(env: dict, *args: str) -> None:
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)


def start_server(instance: str, openrouter: FakeOpenRouter, graph: FakeGraph) -> tuple:
    port = int(refused_port_url().rsplit(":", 1)[1])
    env = {
        **os.environ,
        "INSTANCE_PATH": instance,
        "PORT": str(port),
        "OPENROUTER_BASE_URL": openrouter.base_url,
        "WHATSAPP_API_BASE_URL": graph.base_url,
        "WORKER_THREADS": "8",
    }
    flask(env, "db", "upgrade")
    for name, value in [
        ("openrouter_api_key", "sk-or-v1-bench"),
        ("whatsapp_access_token", "EAAG-bench"),
        ("whatsapp_phone_number_id", "106540352242922"),
        ("whatsapp_app_secret", SECRET),
    ]:
        flask(env, "settings", "set", name, value)
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).ok:
                return server, url
        except requests.ConnectionError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


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
                url + "/webhook/whatsapp", data=body, headers=headers, timeout=10
            )
            times.append((time.perf_counter() - before) * 1000)
            assert response.status_code == 200, response.text
        return times

    with ThreadPoolExecutor(SENDERS) as pool:
        return [t for times in pool.map(sender, range(SENDERS)) for t in times]


def wait_for_replies(graph: FakeGraph, expected: int, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if len(graph.sent_texts()) >= expected:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # room for a late duplicate to show up
    return time.monotonic() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(name: str, messages: int, model_seconds: float, rate: float | None, limit: float) -> dict:
    with FakeOpenRouter() as openrouter, FakeGraph() as graph, tempfile.TemporaryDirectory() as tmp:
        openrouter.echo(delay=model_seconds)
        server, url = start_server(tmp, openrouter, graph)
        try:
            numbers = [f"3161{n:07d}" for n in range(messages)]
            bodies = [
                text_delivery(n, f"question {i}", f"wamid.BENCH{i}") for i, n in enumerate(numbers)
            ]
            extra = random.Random(7).sample(bodies, len(bodies) // 10)  # 10% redelivered
            sequence = bodies + extra  # redeliveries arrive while the originals are answered
            started = time.monotonic()
            # The senders run in a process of their own, so they never wait for this one's GIL.
            with ProcessPoolExecutor(1) as senders:
                acks = senders.submit(post_all, url, sequence, rate).result()
            sending_s = time.monotonic() - started
            elapsed = wait_for_replies(graph, messages, limit)
            answered_in = time.monotonic() - started - 1.0
        finally:
            server.terminate()
            server.wait(timeout=30)
        sent = graph.sent_texts()
        per_number = {}
        for to, _body, _context in sent:
            per_number[to] = per_number.get(to, 0) + 1
        result = {
            "run": name,
            "webhooks": len(sequence),
            "redeliveries": len(extra),
            "model_seconds": model_seconds,
            "rate_per_s": rate or round(len(sequence) / sending_s, 1),
            "ack_ms_p50": round(statistics.median(acks), 2),
            "ack_ms_p99": round(percentile(acks, 0.99), 2),
            "ack_ms_max": round(max(acks), 2),
            "answered": len(per_number),
            "lost": messages - len(per_number),
            "duplicates": sum(count - 1 for count in per_number.values()),
            "all_answered_in_s": round(answered_in, 2) if len(per_number) == messages else None,
            "waited_s": round(elapsed, 2),
        }
        print(json.dumps(result), flush=True)
        return result


def main() -> None:
    # Acknowledgement latency and exactly-once: 20 concurrent senders at steady rates, for
    # 10 s each, while the worker answers everything as fast as the (instant) model allows.
    for rate in (20, 50, 100):
        run(f"ack-steady-{rate}", messages=rate * 10, model_seconds=0.0, rate=rate, limit=120)
    # The same without pauses: how many webhooks a second the server takes at most.
    run("ack-saturated", messages=1000, model_seconds=0.0, rate=None, limit=120)
    # 100 customers at once, the model taking 1 s for every answer.
    run("slow-model", messages=100, model_seconds=1.0, rate=None, limit=60)


if __name__ == "__main__":
    main()
