"""Switchboard started the way compose.yaml and the systemd units start it, without Docker or
systemd: their commands, with their environment, as processes on this machine. The database
is SQLite in a temporary folder, or TEST_DATABASE_URL's when it is set."""

import json
import os
import shlex
import subprocess

from tests.deployed import (
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
from tests.fakes import refused_port_url
from tests.served import Visitor


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
