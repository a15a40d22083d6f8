"""Every command of pyproject.toml's [project.scripts], as installed: ``--version`` answers with
the command's name and the package's version (a command added later is covered by the same test)."""

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
