"""What the lab tests need: root, ip netns, no lab of someone else's up; the roles' kernel mode.

The lab's names are fixed (``fama-lab-*``), so at most one lab runs on a machine: a test that
builds one skips, with the reason, when another is up. Each test gets its own state directory
(``FAMA_LAB_DIR``), and whatever it built is torn down by name afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scapy_fama.lab import links, state

LAB = [sys.executable, "-m", "scapy_fama.cli.lab"]


def _unusable() -> str | None:
    """Why a lab cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs the ip command (iproute2)"
    try:
        up = links.lab_namespaces()
    except links.LabError as exc:
        return f"ip netns does not work here: {exc}"
    if up:
        return f"a lab is already up on this machine ({', '.join(up)}): fama-lab down first"
    return None


def _kernel_mode_missing() -> str | None:
    """Why fama-dar/fama-mn cannot run in kernel mode (the roles' --kernel), or None."""
    for role in ("dar", "mn"):
        shown = subprocess.run([sys.executable, "-m", f"scapy_fama.cli.{role}", "--help"],
                               capture_output=True, text=True, check=False)  # fmt: skip
        if "--kernel" not in shown.stdout:
            return f"fama-{role} --help lacks --kernel: the roles' kernel mode is not in this checkout"
    return None


Lab = Callable[..., subprocess.CompletedProcess[str]]


def _lab(*argv: str) -> subprocess.CompletedProcess[str]:
    """``fama-lab ARGV`` as a command, in the test's environment."""
    return subprocess.run([*LAB, *argv], capture_output=True, text=True, check=False)


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean machine for one lab, with its state in ``tmp_path``; torn down afterwards."""
    reason = _unusable()
    if reason is not None:
        pytest.skip(reason)
    monkeypatch.setenv("FAMA_LAB_DIR", str(tmp_path))
    try:
        yield tmp_path
    finally:
        state.down()


@pytest.fixture
def fama_lab() -> Lab:
    return _lab


@pytest.fixture
def lab_up(lab_dir: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """``fama-lab up`` done (3 DARs; other options with
    ``@pytest.mark.parametrize("lab_up", [("--secure",)], indirect=True)``)."""
    reason = _kernel_mode_missing()
    if reason is not None:
        pytest.skip(reason)
    done = _lab("up", *getattr(request, "param", ()))
    assert done.returncode == 0, done.stderr
    yield _lab
