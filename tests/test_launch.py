"""The commands' entry points (fama_launch.py): each runs its command's main, and a Ctrl-C while
the command is still importing Scapy is one ``PROG: interrupted`` line, exit 130, where it was a
traceback of thirty lines."""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import fama_launch

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]

# runs an installed console script (the wrapper pip wrote) with an import of Scapy that waits,
# saying so, until a signal ends the wait: the Ctrl-C lands inside that import, every time
HELD_IMPORT = """
import importlib.abc, runpy, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal: a suite run as a
# background job starts its children with SIGINT ignored, and Python keeps it so
class Hold(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "scapy":
            print("importing scapy", flush=True)
            time.sleep(60)
        return None
sys.meta_path.insert(0, Hold())
sys.argv = [sys.argv[1], "--version"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_every_command_is_launched_with_its_main() -> None:
    assert set(SCRIPTS) == set(fama_launch.COMMANDS)
    for command, target in fama_launch.COMMANDS.items():
        assert SCRIPTS[command] == f"fama_launch:{command.replace('-', '_')}"
        assert callable(getattr(fama_launch, command.replace("-", "_")))
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


@pytest.mark.parametrize("command", ["fama-lab", "fama-analyze", "fama-shell"])
def test_ctrl_c_while_the_command_imports_scapy_is_one_line(command: str) -> None:
    installed = Path(sys.executable).with_name(command)
    if not installed.is_file():
        pytest.skip(f"{command} is not installed beside {sys.executable} (pip install -e .)")
    with subprocess.Popen([sys.executable, "-c", HELD_IMPORT, str(installed)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "importing scapy\n"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert (proc.returncode, err) == (130, f"{command}: interrupted\n")
