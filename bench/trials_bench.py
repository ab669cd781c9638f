"""Trials benchmark: a 6-model trial on the last 20 customer messages, the model taking 1 s.

Runs the real server as `make run` runs it (`flask serve`: waitress, and the worker as a
process of its own) on a throwaway instance, with loopback fakes of OpenRouter and the Graph
API, and only ever talks to 127.0.0.1. Twenty customers write first (the worker answers
them), then an admin starts the trial through the Compare page and watches its progress the
way the page's script does, until all 120 answers are in. Target: done within 25 s.

    .venv/bin/python bench/trials_bench.py            (or: make bench)
"""

import json
import re
import sys
import tempfile
import time
from html import unescape

import requests
from delivery_bench import ROOT, Server, deliveries, in_other_process, post_all, wait_for_replies

from tests.support.fake_graph import FakeGraph
from tests.support.fakes import FakeOpenRouter

MODELS = [
    "openai/gpt-4o-mini",
    "openai/gpt-4o",
    "anthropic/claude-sonnet-4-6",
    "google/gemini-3.5-flash",
    "mistralai/mistral-small-latest",
    "meta-llama/llama-3.3-70b-instruct",
]
MESSAGES = 20
MODEL_SECONDS = 1.0
TARGET_SECONDS = 25.0
PASSWORD = "bench-admin-password"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def signed_in(url: str) -> requests.Session:
    session = requests.Session()
    token = CSRF.search(session.get(url + "/login", timeout=10).text)[1]
    form = {"csrf_token": token, "username": "bench", "password": PASSWORD}
    session.post(url + "/login", data=form, timeout=10).raise_for_status()
    return session


def run_trial(session: requests.Session, url: str) -> tuple[str, float]:
    """Start the trial from the Compare page; its address and the seconds until it is done."""
    token = CSRF.search(session.get(url + "/admin/trials", timeout=10).text)[1]
    form = {"csrf_token": token, "models": MODELS, "source": "replay", "last_n": str(MESSAGES),
            "prompt": "You answer for a bike shop.", "message": "", "customer": ""}  # fmt: skip
    started = time.monotonic()
    response = session.post(url + "/admin/trials", data=form, timeout=10, allow_redirects=False)
    if response.status_code != 302:
        problems = re.findall(r'<p class="error">(.*?)</p>', response.text)
        raise SystemExit(f"the trial did not start: {[unescape(p) for p in problems]}")
    trial_url = url + response.headers["Location"]
    while time.monotonic() - started < 120:
        if session.get(trial_url + "/progress", timeout=10).json()["done"]:
            return trial_url, time.monotonic() - started
        time.sleep(0.25)  # the page's script asks every second; finer here, for the figure
    raise SystemExit("the trial did not finish within 120 s")


def cells(database) -> dict[str, int]:
    return dict(database.rows("SELECT state, count(*) FROM trial_cells GROUP BY state"))


def main() -> None:
    bodies = deliveries(MESSAGES, 0.0, "TRIAL")
    with FakeOpenRouter() as openrouter, FakeGraph() as graph, tempfile.TemporaryDirectory() as d:
        openrouter.echo(delay=MODEL_SECONDS)
        server = Server(ROOT, sys.executable, d, openrouter, graph)
        try:
            server.env["ADMIN_PASSWORD"] = PASSWORD
            server.flask("create-admin", "bench")
            in_other_process(post_all, server.url, bodies, None)
            if wait_for_replies(graph, MESSAGES, 60, server.database) is None:
                raise SystemExit("the customers' messages were not answered within 60 s")
            asked_before = len(openrouter.requests)
            _, seconds = run_trial(signed_in(server.url), server.url)
            states = cells(server.database)
            asked = len(openrouter.requests) - asked_before
        finally:
            server.stop()
    result = {
        "run": f"trial-{len(MODELS)}-models-{MESSAGES}-messages-{MODEL_SECONDS:g}s-model",
        "done_in_s": round(seconds, 2),
        "target_s": TARGET_SECONDS,
        "met": seconds <= TARGET_SECONDS,
        "cells": states,
        "model_requests": asked,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
