"""The figures 1-3 story of the shell tests on the default topology, and where fama-shell is.

mn attaches to dar1 and opens flow 0 on its address there (HoA1), hands over to dar2 (one
CGA-signed BU to dar1), opens flow 1 on its address at dar2 (CoA2), hands over to dar3 (a
PHKT BU to dar1, a CGA BU to dar2).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fama_shell.session import Session


@dataclass
class Story:
    session: Session
    hoa1: str
    coa2: str
    coa3: str


def figures(session: Session) -> Story:
    session.attach("mn", "dar1")
    hoa1 = session.mn().current_address
    session.flow("cn", "mn")
    session.handover("mn", "dar2")
    coa2 = session.mn().current_address
    session.flow("mn", "cn")
    session.handover("mn", "dar3")
    coa3 = session.mn().current_address
    assert hoa1 and coa2 and coa3
    return Story(session, hoa1, coa2, coa3)


def fama_shell_command() -> str:
    """The fama-shell of the Python running the tests (a venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("fama-shell")
    command = str(beside) if beside.is_file() else shutil.which("fama-shell")
    if command is None:
        pytest.skip("fama-shell is not installed (pip install -e .)")
    return command
