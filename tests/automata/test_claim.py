"""One role per interface (scapy_fama.net.claim): a second claim on a held interface is refused,
naming the holder; the claim ends with its holder, however it ends; no directory, no claims."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scapy_fama.net.claim import InterfaceTaken, claim

HOLD = """
import sys, time
from pathlib import Path
from scapy_fama.net.claim import claim
with claim("eth9", "fama-mn", Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_held_interface_is_refused_with_its_holder_and_free_again_after(tmp_path: Path) -> None:
    with claim("eth9", "fama-dar", tmp_path):
        with pytest.raises(InterfaceTaken) as taken, claim("eth9", "fama-mn", tmp_path):
            pass
        assert str(taken.value) == (f"--iface eth9: fama-dar (pid {os.getpid()}) runs on it already in this "
                                    "network namespace; stop it first")  # fmt: skip
        with claim("eth8", "fama-mn", tmp_path):  # another interface: another claim
            pass
    with claim("eth9", "fama-mn", tmp_path):
        pass


def test_a_holder_killed_leaves_no_claim(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(InterfaceTaken, match=rf"fama-mn \(pid {holder.pid}\) runs on it already"):
            with claim("eth9", "fama-dar", tmp_path):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with claim("eth9", "fama-dar", tmp_path):  # the file is still there; the lock went with the process
        pass


def test_without_a_place_for_claims_roles_are_not_kept_apart(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    with claim("eth9", "fama-dar", blocked / "claims"), claim("eth9", "fama-mn", blocked / "claims"):
        pass
