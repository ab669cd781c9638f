"""Switchboard started the way compose.yaml and the systemd units start it, without Docker or
systemd: their commands, with their environment, as processes on this machine (the database is
SQLite in a temporary folder, or TEST_DATABASE_URL's when it is set); and behind Caddy run with
deploy/Caddyfile, where Caddy is installed."""

import json
import os
import shlex
import shutil
import subprocess
from contextlib import contextmanager

import pytest

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
from tests.support.processes import healthy
from tests.support.served import LOCKED, Visitor, serving


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


@contextmanager
def caddy_in_front(upstream: str, tmp_path):
    """deploy/Caddyfile run by Caddy, over plain HTTP on a free loopback port for the test (no
    certificate to fetch), forwarding to `upstream` instead of 127.0.0.1:5000."""
    port = free_port()
    site = (
        (DEPLOY / "Caddyfile").read_text().replace("shop.example {", f"http://127.0.0.1:{port} {{")
    )
    config = tmp_path / "Caddyfile"
    config.write_text("{\n\tadmin off\n}\n" + site.replace("127.0.0.1:5000", upstream))
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
