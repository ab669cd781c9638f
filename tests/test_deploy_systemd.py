"""The systemd units in deploy/systemd, checked by systemd itself: every directive known and
every command present (`systemd-analyze verify`), and the hardening in force on both units
(`systemd-analyze security`, which scores what a unit may do from 0 to 10)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.deployed import INSTALL, ROOT, SYSTEMD, unit
from webapp.setting_specs import SPECS

UNITS = ["switchboard-web.service", "switchboard-worker.service"]
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d)")

pytestmark = pytest.mark.needs("systemd")


@pytest.fixture
def units(tmp_path) -> Path:
    """deploy/systemd with this checkout standing in for the install in /opt/switchboard, so
    the commands the units start exist."""
    shutil.copytree(SYSTEMD, tmp_path, dirs_exist_ok=True)
    for path in tmp_path.rglob("*.service"):
        path.write_text(path.read_text().replace(INSTALL, str(ROOT)))
    return tmp_path


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = ["systemd-analyze", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_finds_nothing_wrong_in_the_unit(units, unit):
    result = analyze("verify", f"./{unit}", cwd=units)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("unit", UNITS)
def test_the_shared_hardening_applies_to_the_unit(units, unit):
    result = analyze("security", "--offline=yes", f"./{unit}", cwd=units)
    exposure = float(EXPOSURE.search(result.stdout).group(1))
    assert exposure <= 2.0, result.stdout  # the same unit without it scores 9.2


def test_the_worker_is_given_time_to_finish_the_longest_turn():
    worker = unit("switchboard-worker.service")
    assert worker["KillSignal"] == ["SIGTERM"]
    (stop_seconds,) = worker["TimeoutStopSec"]
    assert int(stop_seconds) > SPECS["answer_within_seconds"].maximum  # and a send on top


@pytest.mark.parametrize("name", UNITS)
def test_the_instance_folder_of_the_unit_is_the_one_it_may_write_to(name):
    hardening = unit("switchboard-.service.d/hardening.conf")
    (instance,) = unit(name)["Environment"]
    assert instance.removeprefix("INSTANCE_PATH=") in hardening["ReadWritePaths"]
    assert hardening["ProtectSystem"] == ["strict"]
