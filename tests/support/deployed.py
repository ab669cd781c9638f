"""The files of deploy/ read as Docker, compose and systemd read them, and Switchboard run the
way they run it: the same commands and environment, as plain processes on this machine."""

import os
import re
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml

from tests.conftest import ENVIRONMENT, wait_for
from tests.support.processes import ROOT, healthy

DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
INSTALL = "/opt/switchboard"  # where the units expect the checkout and its .venv


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def instructions(name: str) -> list[str]:
    """The Dockerfile's instructions of one kind, each with its continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    return [line[len(name) + 1 :] for line in joined.splitlines() if line.startswith(name + " ")]


def image_environment() -> dict:
    return dict(pair.split("=", 1) for line in instructions("ENV") for pair in line.split())


def env_file(path: Path) -> dict:
    """KEY=value lines, as compose's env_file and systemd's EnvironmentFile read them."""
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def unit(name: str) -> dict[str, list[str]]:
    """A unit's [Service] directives, each with all its values in order."""
    directives: dict[str, list[str]] = {}
    for line in (SYSTEMD / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            directives.setdefault(key, []).append(value)
    return directives


def clean_environment(**settings) -> dict:
    """This machine's environment without any of Switchboard's own variables, plus these."""
    mine = set(ENVIRONMENT) | {"HOST", "PORT"} | {n for n in os.environ if n.startswith("WEB_")}
    return {**{k: v for k, v in os.environ.items() if k not in mine}, **settings}


def workers_counted(url: str) -> bool:
    body = requests.get(f"{url}/healthz", timeout=5).json()
    return body["status"] == "ok" and body["workers"] >= 1


def database_url(folder: Path) -> str:
    """Where the deployment's database is, here: TEST_DATABASE_URL, else SQLite in `folder`."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{folder / 'switchboard.db'}"


@contextmanager
def deployed(web: list[list[str]], web_env: dict, worker: list[str], worker_env: dict):
    """The web side's start steps (the last one serves), then the worker, as the deployment
    files start them: yields the URL once /healthz answers ok with a worker counted."""
    *steps, serve = web
    for step in steps:
        subprocess.run(step, cwd=ROOT, env=web_env, check=True, capture_output=True, timeout=120)
    url = f"http://127.0.0.1:{web_env['PORT']}"
    started = [subprocess.Popen(serve, cwd=ROOT, env=web_env, stdout=subprocess.DEVNULL)]
    try:
        wait_for(lambda: healthy(url), timeout=30)
        started.append(
            subprocess.Popen(worker, cwd=ROOT, env=worker_env, stdout=subprocess.DEVNULL)
        )
        wait_for(lambda: workers_counted(url), timeout=30)
        yield url
    finally:
        for process in reversed(started):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
