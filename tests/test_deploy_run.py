"""Switchboard started the way compose.yaml and the systemd units start it, without Docker or
systemd: their commands, with their environment, as processes on this machine (the database is
SQLite in a temporary folder, or TEST_DATABASE_URL's when it is set); and behind Caddy run with
deploy/Caddyfile, where Caddy is installed."""

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests

from tests.conftest import wait_for
from tests.support.databases import environment_of
from tests.support.deployed import (
    DEPLOY,
    INSTALL,
    ROOT,
    SYSTEMD,
    clean_environment,
    compose,
    database_url,
    deployed,
    env_file,
    image_environment,
    instructions,
    unit,
)
from tests.support.fakes import refused_port_url
from tests.support.flows import GUIDE_BODY, URL
from tests.support.processes import healthy
from tests.support.served import LOCKED, Visitor, serving
from tests.support.slow_clients import SlowVisitors, post_streamed
from webapp import tokens
from webapp.config import FLOW_BODY_LIMIT


def free_port() -> str:
    return refused_port_url().rsplit(":", 1)[1]


def in_a_container(service: dict, tmp_path, port: str) -> dict:
    """A compose service's environment, with this machine in place of the container: the
    checkout for /app, a temporary instance folder for the volume, loopback for 0.0.0.0."""
    image = image_environment()
    path = image["PATH"].replace("/app", str(ROOT)).replace("$PATH", os.environ["PATH"])
    settings = {
        **image,
        **env_file(DEPLOY / "env.example"),
        **{name: str(value) for name, value in service.get("environment", {}).items()},
        "PATH": path,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url(tmp_path),
        "HOST": "127.0.0.1",
        "PORT": port,
    }
    return clean_environment(**settings)


def health_check(service: dict, env: dict, **hosts) -> int:
    command = service["healthcheck"]["test"][1:]  # after "CMD"
    for container, here in hosts.items():
        command = [part.replace(container, here) for part in command]
    return subprocess.run(command, cwd=ROOT, env=env, timeout=30).returncode


def image_health_check(env: dict) -> int:
    """The Dockerfile's own HEALTHCHECK, the one a container started without compose runs."""
    (check,) = instructions("HEALTHCHECK")
    command = json.loads(check.split(" CMD ", 1)[1])
    return subprocess.run(command, cwd=ROOT, env=env, timeout=30).returncode


def test_the_compose_services_commands_serve_answer_health_checks_and_the_admin(tmp_path):
    services = compose()["services"]
    web, worker = services["web"], services["worker"]
    web_env = in_a_container(web, tmp_path, free_port())
    worker_env = in_a_container(worker, tmp_path, free_port())
    with deployed([web["command"]], web_env, worker["command"], worker_env) as url:
        here = url.removeprefix("http://")
        assert image_health_check(web_env) == 0
        assert health_check(web, web_env, **{"127.0.0.1:5000": here}) == 0
        assert health_check(worker, worker_env, **{"web:5000": here}) == 0
        signed_in = Visitor(url, {}).sign_in("admin", web_env["ADMIN_PASSWORD"])
        assert signed_in.status_code == 302


def unit_commands(name: str, directive: str) -> list[list[str]]:
    return [shlex.split(line.replace(INSTALL, str(ROOT))) for line in unit(name)[directive]]


def as_a_unit(name: str, tmp_path, port: str) -> dict:
    """A unit's environment: its EnvironmentFile (the example) over its Environment lines, with
    a temporary instance folder for /var/lib/switchboard."""
    settings = dict(line.split("=", 1) for line in unit(name)["Environment"])
    settings.update(env_file(SYSTEMD / "switchboard.env.example"))
    settings.update(INSTANCE_PATH=str(tmp_path / "instance"), PORT=port)
    return clean_environment(**settings, DATABASE_URL=database_url(tmp_path))


def test_the_systemd_units_commands_serve_with_a_worker_counted(tmp_path):
    web, worker = "switchboard-web.service", "switchboard-worker.service"
    web_steps = unit_commands(web, "ExecStartPre") + unit_commands(web, "ExecStart")
    port = free_port()
    with deployed(
        web_steps, as_a_unit(web, tmp_path, port),
        unit_commands(worker, "ExecStart")[0], as_a_unit(worker, tmp_path, port),
    ) as url:  # fmt: skip
        assert Visitor(url, {}).request("GET", "/login").status_code == 200


def without_admin_endpoint(caddyfile: str) -> str:
    """The Caddyfile with `admin off` in its global options (a file has one block of them)."""
    if re.search(r"^\{$", caddyfile, flags=re.MULTILINE):
        return re.sub(r"^\{$", "{\n\tadmin off", caddyfile, count=1, flags=re.MULTILINE)
    return "{\n\tadmin off\n}\n" + caddyfile


@contextmanager
def caddy_in_front(upstream: str, tmp_path):
    """deploy/Caddyfile run by Caddy, over plain HTTP on a free loopback port for the test (no
    certificate to fetch), forwarding to `upstream` instead of 127.0.0.1:5000."""
    port = free_port()
    site = (
        (DEPLOY / "Caddyfile").read_text().replace("shop.example {", f"http://127.0.0.1:{port} {{")
    )
    site = site.replace("127.0.0.1:5000", upstream)
    config = tmp_path / "Caddyfile"
    config.write_text(without_admin_endpoint(site))
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    command = [shutil.which("caddy"), "run", "--config", config, "--adapter", "caddyfile"]
    caddy = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url), timeout=30)
        yield url
    finally:
        caddy.terminate()
        caddy.wait(timeout=30)


@pytest.mark.needs("caddy")
def test_behind_the_caddyfile_sign_in_works_and_a_forged_address_does_not_escape_the_throttle(
    app, tmp_path
):
    with (
        serving(environment_of(app), TRUSTED_PROXIES="1") as upstream,
        caddy_in_front(upstream.removeprefix("http://"), tmp_path) as url,
    ):
        assert Visitor(url, {}).sign_in().status_code == 302
        for attempt in range(5):
            forged = {"X-Forwarded-For": f"203.0.113.{attempt}"}
            Visitor(url, forged).sign_in("owner", "wrong password")
        another = Visitor(url, {"X-Forwarded-For": "198.51.100.20"})
        assert LOCKED in another.sign_in("owner", "wrong password").text


@pytest.fixture
def behind_caddy(app, tmp_path):
    """`serve` as docs/deploying.md deploys it: on loopback, behind Caddy (deploy/Caddyfile)."""
    with (
        serving(environment_of(app), TRUSTED_PROXIES="1") as upstream,
        caddy_in_front(upstream.removeprefix("http://"), tmp_path) as url,
    ):
        yield url


def health_answers(url: str, callers: int = 4) -> list[int]:
    """/healthz asked by several callers at once, as a load balancer and a monitor would."""
    with ThreadPoolExecutor(callers) as pool:
        asks = [pool.submit(requests.get, f"{url}/healthz", timeout=5) for _ in range(callers)]
        return [ask.result().status_code for ask in asks]


@pytest.mark.needs("caddy")
def test_behind_the_caddyfile_slow_visitors_leave_healthz_answering(behind_caddy):
    with (
        SlowVisitors(behind_caddy, 100) as slow_headers,
        SlowVisitors(behind_caddy, 100, body=True),
    ):
        for _ in range(3):
            assert health_answers(behind_caddy) == [200] * 4
            time.sleep(1)
        # Caddy's read_header timeout (10 s) ends those that never finish their headers.
        wait_for(lambda: slow_headers.closed() == 100, timeout=20)
        assert health_answers(behind_caddy) == [200] * 4


@pytest.mark.needs("caddy")
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_behind_the_caddyfile_a_300_mb_post_is_refused_before_it_is_sent(behind_caddy, chunked):
    refused = post_streamed(behind_caddy, "/webhook/whatsapp", 300 * 2**20, chunked=chunked)
    assert refused.status == 413
    assert refused.sent < 32 * 2**20  # what loopback's socket buffers hold


@pytest.mark.needs("caddy")
def test_behind_the_caddyfile_a_flow_with_a_photos_worth_of_body_is_answered(
    behind_caddy, whatsapp, fake_openrouter
):
    with whatsapp.app_context():
        token = tokens.create("photo-flow")[1]
    fake_openrouter.reply("A lovely cake.")
    body = json.dumps(GUIDE_BODY | {"padding": " " * (FLOW_BODY_LIMIT - 4096)})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = requests.post(behind_caddy + URL, data=body, headers=headers, timeout=30)
    assert response.status_code == 200
