"""Flow endpoint benchmark: what Switchboard adds to the model's own latency.

Runs the real server as `make run` runs it (`flask serve`: waitress, and the worker beside
it) on a throwaway instance, with a loopback fake OpenRouter that keeps connections open and
answers after a fixed delay, and only ever talks to 127.0.0.1. The same requests, from the
same 20 concurrent senders, go straight to the fake (the baseline) and through Switchboard's
flow endpoint, in alternating rounds of the same run, so a busy machine weighs on both alike.

Two runs: a model that always takes exactly 200 ms, so the 20 answers of a round land in
the same millisecond and queue for the web process (the worst case), and one whose time
varies by ±50 ms, as a real model's does.

    .venv/bin/python bench/flow_bench.py            (or: make bench)
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delivery_bench import Server, in_other_process, percentile  # noqa: E402
from tests.support.fake_graph import FakeGraph  # noqa: E402
from tests.support.fakes import FakeOpenRouter  # noqa: E402

SENDERS = 20
BODY = {
    "model": "openai/gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are the assistant of Bella's Bakery."},
        {"role": "user", "content": "Are you open on Sunday?"},
    ],
}
FakeOpenRouter.keep_alive = FakeGraph.keep_alive = True


def post_all(url: str, token: str, count: int) -> list[float]:
    """POST the body `count` times from SENDERS concurrent senders; each answer's time in ms."""

    def sender(share: int) -> list[float]:
        session, times = requests.Session(), []
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(share):
            before = time.perf_counter()
            response = session.post(url, json=BODY, headers=headers, timeout=60)
            times.append((time.perf_counter() - before) * 1000)
            assert response.status_code == 200, response.text
        return times

    shares = [count // SENDERS + (i < count % SENDERS) for i in range(SENDERS)]
    with ThreadPoolExecutor(SENDERS) as pool:
        return [t for times in pool.map(sender, shares) for t in times]


def flow_token(server: Server) -> str:
    command = [server.python, "-m", "flask", "--app", "wsgi", "tokens", "create", "bench"]
    output = subprocess.run(
        command, cwd=server.root, env=server.env, check=True, capture_output=True, text=True
    ).stdout
    return output.split()[-1]


def run(requests_per_side: int, rounds: int, model_ms: float, spread_ms: float) -> dict:
    with FakeOpenRouter() as openrouter, FakeGraph() as graph, tempfile.TemporaryDirectory() as d:
        openrouter.echo(delay=model_ms / 1000, spread=spread_ms / 1000)
        server = Server(ROOT, sys.executable, d, openrouter, graph)
        try:
            token = flow_token(server)
            straight = openrouter.base_url + "/chat/completions"
            through = server.url + "/api/v1/chat/completions"
            in_other_process(post_all, through, token, SENDERS * 5)  # warm-up: connections, caches
            baseline, flow = [], []
            started = time.monotonic()
            per_round = requests_per_side // rounds
            for _ in range(rounds):
                baseline += in_other_process(post_all, straight, "sk-or-v1-bench", per_round)
                flow += in_other_process(post_all, through, token, per_round)
            seconds = round(time.monotonic() - started, 1)
        finally:
            server.stop()
    p50 = (percentile(flow, 0.5), percentile(baseline, 0.5))
    p99 = (percentile(flow, 0.99), percentile(baseline, 0.99))
    return {
        "run": f"flow-{SENDERS}-concurrent-{model_ms:g}ms-model-spread-{spread_ms:g}ms",
        "requests_each": len(flow),
        "flow_ms_p50": p50[0],
        "baseline_ms_p50": p50[1],
        "overhead_ms_p50": round(p50[0] - p50[1], 1),
        "flow_ms_p99": p99[0],
        "baseline_ms_p99": p99[1],
        "overhead_ms_p99": round(p99[0] - p99[1], 1),
        "target": "overhead p50 <= 10 ms, p99 <= 30 ms",
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per side (default 2000)")
    parser.add_argument("--model-ms", type=float, default=200, help="the fake model's latency")
    args = parser.parse_args()
    for spread_ms in (0, 50):
        print(json.dumps(run(args.requests, 4, args.model_ms, spread_ms)), flush=True)


if __name__ == "__main__":
    main()
