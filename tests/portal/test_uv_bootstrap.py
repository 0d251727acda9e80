"""deploy/uv.sh, the Makefile's uv: the Python's own uv, else uv on PATH, else a private copy
installed once into a virtualenv, never with pip into the system's Python (PEP 668)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "deploy" / "uv.sh"
TOOLS = ("sh", "mkdir", "rm", "touch", "dirname", "cp", "chmod", "cat")

# A Debian-like python3.11: no uv module, pip refuses (externally managed), and `-m venv`
# makes a virtualenv (unless told it lacks python3.11-venv) whose pip installs a stand-in uv.
SYSTEM_PYTHON = """#!/bin/sh
echo "system $*" >> "$LOG"
case "$1 $2" in
  "-m uv") echo "No module named uv" >&2; exit 1 ;;
  "-m pip") echo "error: externally-managed-environment" >&2; exit 1 ;;
  "-m venv") [ -z "${NO_VENV:-}" ] || { echo "ensurepip is not available" >&2; exit 1; }
             mkdir -p "$3/bin" && cp "$0.in-venv" "$3/bin/python" ;;
esac
"""
VENV_PYTHON = """#!/bin/sh
echo "venv $*" >> "$LOG"
printf '#!/bin/sh\\necho "private uv $*"\\n' > "$(dirname "$0")/uv"
chmod +x "$(dirname "$0")/uv"
"""


@pytest.fixture
def machine(tmp_path):
    """A PATH of plain tools (no uv), a Debian-like Python, a log of what it was asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    write_script(bin_dir / "python3.11", SYSTEM_PYTHON)
    write_script(bin_dir / "python3.11.in-venv", VENV_PYTHON)
    log = tmp_path / "log"
    log.touch()
    env = {"PATH": str(bin_dir), "LOG": str(log), "TOLLGATE_TOOLS_DIR": str(tmp_path / "tools"),
           "PYTHON": "python3.11"}  # fmt: skip
    return env, bin_dir, log, tmp_path / "tools" / "uv"


def write_script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def uv(env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip


def test_it_installs_uv_into_a_private_virtualenv_once(machine):
    env, _, log, private = machine
    first = uv(env, "sync", "--locked")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "private uv sync --locked\n"
    assert "installing uv 0.13.9 into" in first.stderr
    asked = log.read_text().splitlines()
    assert f"system -m venv {private}" in asked
    assert "venv -m pip install --quiet --disable-pip-version-check uv==0.13.9" in asked
    assert not any(line.startswith("system -m pip") for line in asked)  # never the system's pip
    log.write_text("")
    again = uv(env, "--version")
    assert again.stdout == "private uv --version\n" and again.stderr == ""
    assert "venv" not in log.read_text()  # installed once


def test_an_interrupted_install_is_made_again(machine):
    env, _, log, private = machine
    (private / "bin").mkdir(parents=True)  # a venv without .complete: pip never finished
    assert uv(env, "--version").stdout == "private uv --version\n"
    assert f"system -m venv {private}" in log.read_text()


def test_without_python3_11_venv_it_says_which_package_to_install(machine):
    env, _, _, private = machine
    result = uv({**env, "NO_VENV": "1"}, "--version")
    assert result.returncode == 1
    assert "run 'sudo apt-get install python3.11-venv'" in result.stderr
    assert not private.exists()


def test_without_python_it_says_which_packages_to_install(machine):
    env, _, _, _ = machine
    result = uv({**env, "PYTHON": "python3.11-missing"}, "--version")
    assert result.returncode == 1
    assert "run 'sudo apt-get install python3.11 python3.11-venv'" in result.stderr


def test_a_uv_on_path_is_used_as_it_is(machine):
    env, bin_dir, log, private = machine
    write_script(bin_dir / "uv", '#!/bin/sh\necho "path uv $*"\n')
    assert uv(env, "--version").stdout == "path uv --version\n"
    assert "venv" not in log.read_text() and not private.exists()


def test_a_python_with_uv_installed_is_used_first(machine):
    env, bin_dir, _, private = machine
    write_script(bin_dir / "python3.11", '#!/bin/sh\necho "python $*"\n')
    write_script(bin_dir / "uv", '#!/bin/sh\necho "path uv $*"\n')
    assert uv(env, "--version").stdout == "python -m uv --version\n"
    assert not private.exists()
