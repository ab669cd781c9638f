"""`/healthz` and the dashboard say when nobody answers, and QUEUE_URL is refused clearly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webapp import create_app
from webapp.config import QUEUE_URL_REFUSED

ROOT = Path(__file__).resolve().parent.parent


def test_health_says_degraded_while_no_worker_is_running(client):
    response = client.get("/healthz")
    assert response.status_code == 200  # the admin stays reachable behind a load balancer
    assert response.json["status"] == "degraded"
    assert response.json["database"] == response.json["queue"] == "ok"
    assert "no worker is running" in response.json["worker"]


def test_health_is_ok_with_a_worker_at_work(client, worker):
    body = client.get("/healthz").json
    assert (body["status"], body["workers"], body["waiting"]) == ("ok", 1, 0)


def test_the_dashboard_warns_when_no_worker_answers(admin, app):
    page = admin.get("/admin/").get_data(as_text=True)
    assert "No worker is running" in page


def test_the_dashboard_is_quiet_about_a_running_worker(admin, worker):
    assert "No worker is running" not in admin.get("/admin/").get_data(as_text=True)


def test_queue_url_is_refused_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("QUEUE_URL", "redis://localhost:6379/0")
    with pytest.raises(SystemExit) as refused:
        create_app({"INSTANCE_PATH": tmp_path})
    assert str(refused.value) == QUEUE_URL_REFUSED


def test_the_cli_stops_on_queue_url_with_the_message_and_no_traceback(tmp_path):
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path), "QUEUE_URL": "sqlite:////tmp/q.db"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "settings", "list"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "QUEUE_URL is no longer used" in result.stderr and "Traceback" not in result.stderr
