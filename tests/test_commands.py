"""Every command of pyproject.toml's [project.scripts], as installed: ``--version`` answers with
the command's name and the package's version, and a usage error is one ``PROG: error:`` line, exit 2
(a command added later is covered by the same tests)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
COMMANDS = sorted(PROJECT["scripts"])


def test_the_commands_are_the_ones_we_know() -> None:
    assert {"fama-cga", "fama-dar", "fama-mn", "fama-shell", "fama-analyze", "fama-conformance", "fama-fuzz",
            "fama-lab"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_version(command: str) -> None:
    installed = Path(sys.executable).with_name(command)
    if not installed.is_file():
        pytest.skip(f"{command} is not installed beside {sys.executable} (pip install -e .)")
    done = subprocess.run([str(installed), "--version"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{command} {PROJECT['version']}\n" and done.stderr == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_a_usage_error_is_one_line(command: str) -> None:
    """An option no command has: one line naming it, exit 2 (argparse printed its usage block
    first, up to nine lines before the error; fama-fuzz alone said it in one)."""
    installed = Path(sys.executable).with_name(command)
    if not installed.is_file():
        pytest.skip(f"{command} is not installed beside {sys.executable} (pip install -e .)")
    if command == "fama-fuzz-harness":
        pytest.skip("its flags are libFuzzer's: it takes any, as a libFuzzer binary does")
    done = subprocess.run([str(installed), "--no-such-option"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()  # the option, or what the command needs first
    assert line.startswith(f"{command}: error: ") and ("--no-such-option" in line or "required" in line), line
