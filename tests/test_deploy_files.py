"""The container files and the Caddyfile in deploy/, checked without Docker: the Dockerfile by
hadolint and by what it must do, the compose file by its structure, the Caddyfile by Caddy."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deployed import DEPLOY, ROOT, compose, env_file, image_environment, instructions
from webapp.config import WEB_BODY_LIMIT, WEB_CHANNEL_TIMEOUT
from webapp.setting_specs import SPECS

COMPOSE = compose()
SERVICES = COMPOSE["services"]
READS = re.compile(r'(?:environ\.get\(|environ\[|_number\(|_at_least_one\()\s*"([A-Z][A-Z0-9_]+)"')
POSTGRES = {"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD"}


def names_switchboard_reads() -> set[str]:
    return {
        name for path in (ROOT / "webapp").rglob("*.py") for name in READS.findall(path.read_text())
    }


def test_hadolint_finds_nothing_in_the_dockerfile():
    hadolint = Path(sys.executable).with_name("hadolint")  # from requirements-dev.txt
    result = subprocess.run(
        [hadolint, DEPLOY / "Dockerfile"], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "")


def test_the_image_starts_from_a_pinned_slim_python():
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.11-slim-[a-z]+", base)


def test_the_image_installs_exactly_as_make_run_does():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^\$\(VENV\)/\.run-deps:.*\n\t(.+)$", makefile, re.MULTILINE).group(1)
    install = recipe.removeprefix("@").replace("$(BIN)/", ".venv/bin/")
    assert any(install in run for run in instructions("RUN"))


def test_the_image_runs_as_a_user_without_root_rights():
    user = instructions("USER")[-1]
    assert user.split(":")[0] not in {"root", "0"}


def test_the_image_migrates_and_makes_sure_of_an_admin_before_serving():
    command = " ".join(re.findall(r'"([^"]*)"', instructions("CMD")[-1]))
    steps = [step.strip() for step in command.split("&&")]
    assert steps[-3:] == [
        "sh -c flask --app wsgi db upgrade",
        "flask --app wsgi ensure-admin",
        "exec flask --app wsgi serve",
    ]


def test_the_image_checks_its_health_on_healthz():
    (check,) = instructions("HEALTHCHECK")
    assert "/healthz" in check


def test_compose_runs_the_web_server_the_worker_and_postgresql():
    assert set(SERVICES) == {"web", "worker", "db"}
    assert SERVICES["db"]["image"] == "postgres:15"
    assert SERVICES["web"]["command"][-1].endswith("exec flask --app wsgi serve --no-worker")
    assert SERVICES["worker"]["command"] == ["flask", "--app", "wsgi", "worker"]


def test_compose_keeps_the_database_and_the_instance_folder_in_volumes():
    assert set(COMPOSE["volumes"]) == {"pgdata", "instance"}
    assert SERVICES["db"]["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    shared = f"instance:{image_environment()['INSTANCE_PATH']}"
    assert SERVICES["web"]["volumes"] == SERVICES["worker"]["volumes"] == [shared]


def test_compose_checks_every_service_health_and_the_app_on_healthz():
    for name in ("web", "worker"):
        assert "/healthz" in SERVICES[name]["healthcheck"]["test"][-1]
    assert "pg_isready" in SERVICES["db"]["healthcheck"]["test"]
    assert SERVICES["web"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert SERVICES["worker"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_compose_points_both_services_at_postgresql_with_psycopg():
    for name in ("web", "worker"):
        url = SERVICES[name]["environment"]["DATABASE_URL"]
        assert re.fullmatch(
            r"postgresql\+psycopg://switchboard:\$\{POSTGRES_PASSWORD.*\}@db:5432/switchboard", url
        )


def test_compose_and_its_env_file_name_only_variables_switchboard_reads():
    read = names_switchboard_reads()
    assert {"SECRET_KEY", "DATABASE_URL", "TRUSTED_PROXIES", "WEB_THREADS"} <= read
    example = env_file(DEPLOY / "env.example")
    assert "SECRET_KEY" in example
    assert set(example) - POSTGRES <= read
    for name in ("web", "worker"):
        assert SERVICES[name]["env_file"] == ".env"
        assert set(SERVICES[name]["environment"]) <= read


def test_the_caddyfile_forwards_to_where_serve_listens_by_default(app):
    (upstream,) = re.findall(r"reverse_proxy\s+(\S+)", (DEPLOY / "Caddyfile").read_text())
    assert upstream == f"{app.config['HOST']}:{app.config['PORT']}"
    assert app.config["TRUSTED_PROXY_ADDRESS"] == app.config["HOST"]


def test_the_caddyfile_passes_on_every_body_serve_takes():
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    (size,) = re.findall(r"max_size (\d+)MB", caddyfile)
    (pattern,) = re.findall(r"header_regexp Content-Length (\S+)", caddyfile)
    refused_from = int(size) * 10**6  # the smallest Content-Length refused at once
    assert re.fullmatch(pattern, str(refused_from))
    assert not re.fullmatch(pattern, str(refused_from - 1))
    assert not re.fullmatch(pattern, str(WEB_BODY_LIMIT))
    assert all(re.fullmatch(pattern, str(n)) for n in (10**8, 10**12, 19_999_999))
    assert refused_from > WEB_BODY_LIMIT


def test_caddy_lets_go_of_an_idle_connection_before_serve_closes_it():
    (keepalive,) = re.findall(r"keepalive (\d+)s", (DEPLOY / "Caddyfile").read_text())
    assert int(keepalive) < WEB_CHANNEL_TIMEOUT


@pytest.mark.needs("caddy")
def test_caddy_reads_the_caddyfile(tmp_path):
    result = subprocess.run(
        [shutil.which("caddy"), "adapt", "--config", DEPLOY / "Caddyfile"],
        capture_output=True, text=True, timeout=60, env={"HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_compose_gives_the_worker_time_to_finish_the_longest_turn():
    grace = re.fullmatch(r"(\d+)m", SERVICES["worker"]["stop_grace_period"]).group(1)
    assert int(grace) * 60 > SPECS["answer_within_seconds"].maximum  # and a send on top
