"""Health benchmark: what many /healthz callers cost the webhooks' acknowledgement.

Runs the real server as `make run` runs it (`flask serve`: waitress, and the worker beside
it) on a throwaway instance, with loopback fakes of OpenRouter and the Graph API, and only ever
talks to 127.0.0.1. One sender posts signed webhooks one after another, as Meta does for one
number; in alternating rounds of the same run, 16 other clients ask /healthz as fast as it
answers, or nobody does (the baseline). With `--baseline DIR PYTHON` the same rounds run
against another checkout too (e.g. an export of the previous commit), in the same run.

    .venv/bin/python bench/health_bench.py
"""

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delivery_bench import SECRET, Server, in_other_process, percentile  # noqa: E402
from tests.support.fake_graph import FakeGraph  # noqa: E402
from tests.support.fakes import FakeOpenRouter  # noqa: E402
from tests.support.payloads import text_delivery  # noqa: E402
from webapp.clients.whatsapp_webhook import sign  # noqa: E402

CALLERS = 16
FakeOpenRouter.keep_alive = FakeGraph.keep_alive = True


def acknowledgements(url: str, tag: str, count: int, callers: int) -> tuple[list[float], float]:
    """`count` webhooks posted one after another while `callers` ask /healthz: each one's
    acknowledgement in ms, and the health answers a second meanwhile."""
    stop, answers = threading.Event(), [0] * callers

    def ask(index: int) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                session.get(url + "/healthz", timeout=30)
                answers[index] += 1

    times = []
    with ThreadPoolExecutor(max(callers, 1)) as pool, requests.Session() as meta:
        for index in range(callers):
            pool.submit(ask, index)
        time.sleep(0.5 if callers else 0)  # the callers at full pace before the first webhook
        started = time.monotonic()
        for n in range(count):
            body = text_delivery(f"3162{n:07d}", f"question {n}", f"wamid.{tag}{n}")
            headers = {"Content-Type": "application/json"}
            headers["X-Hub-Signature-256"] = sign(SECRET, body)
            before = time.perf_counter()
            response = meta.post(url + "/webhook/whatsapp", data=body, headers=headers, timeout=30)
            times.append((time.perf_counter() - before) * 1000)
            assert response.status_code == 200, response.text
        seconds = time.monotonic() - started
        stop.set()
    return times, round(sum(answers) / seconds)


def run(name: str, root: Path, python: str, count: int, rounds: int) -> dict:
    with FakeOpenRouter() as openrouter, FakeGraph() as graph, tempfile.TemporaryDirectory() as d:
        openrouter.reply("Yes.")
        server = Server(root, python, d, openrouter, graph)
        try:
            in_other_process(acknowledgements, server.url, "warm", 50, 0)
            alone, asked, rates = [], [], []
            for n in range(rounds):
                alone += in_other_process(acknowledgements, server.url, f"a{n}x", count, 0)[0]
                times, rate = in_other_process(
                    acknowledgements, server.url, f"h{n}x", count, CALLERS
                )
                asked += times
                rates.append(rate)
        finally:
            server.stop()
    return {
        "run": f"{name}-webhooks-with-{CALLERS}-health-callers",
        "webhooks_each": len(asked),
        "health_answers_per_s": round(sum(rates) / len(rates)),
        "ack_ms_p50": percentile(asked, 0.5),
        "baseline_ack_ms_p50": percentile(alone, 0.5),
        "ack_ms_p99": percentile(asked, 0.99),
        "baseline_ack_ms_p99": percentile(alone, 0.99),
        "ack_ms_max": round(max(asked), 1),
        "baseline_ack_ms_max": round(max(alone), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=300, help="per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline", nargs=2, metavar=("DIR", "PYTHON"), help="another checkout, run as well"
    )
    args = parser.parse_args()
    runs = [("this", ROOT, sys.executable)]
    if args.baseline:
        runs.append(("baseline-checkout", Path(args.baseline[0]), args.baseline[1]))
    for name, root, python in runs:
        print(json.dumps(run(name, root, python, args.webhooks, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
