"""make demo's script: it exits 0 when the story did what the draft says, and everything it writes
(the pcaps, the MN key it caches, Scapy's caches) stays in its output folder unless FAMA_SHELL_CACHE
names another one for the key; its tables keep their titles on one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fama_shell.session import Session
from fama_shell.views import render_text

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


@pytest.mark.slow
@pytest.mark.parametrize("asked", [False, True])
def test_the_demo_keeps_its_files_in_its_folder(tmp_path: Path, asked: bool) -> None:
    home = tmp_path / "home"
    home.mkdir()  # a home that exists: Scapy would make ~/.cache/scapy in it
    env = {k: v for k, v in os.environ.items() if k not in ("FAMA_SHELL_CACHE", "XDG_CACHE_HOME", "COLUMNS")}
    env["HOME"] = str(home)
    if asked:
        env["FAMA_SHELL_CACHE"] = str(tmp_path / "mine")
    done = subprocess.run([sys.executable, str(DEMO), "out/demo"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "FAILED" not in done.stdout and done.stdout.count(" ok ") >= 6
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    scapy = [m for m in made if m.startswith("out/demo/cache/scapy/")]  # its tables, pickled
    key = "mine/mn-key.pem" if asked else "out/demo/cache/mn-key.pem"
    assert scapy and all(m.endswith(".pickle") for m in scapy)
    assert sorted(set(made) - set(scapy)) == sorted([key, *(f"out/demo/{link}.pcap"
                                                           for link in ("backbone", "dar1", "dar2", "dar3"))])
    assert not (home / ".cache").exists()  # nothing in ~/.cache (Scapy makes ~/.config, empty, as for any use)


def test_a_table_title_is_never_wrapped(session: Session) -> None:
    """An empty binding cache is a narrow table: its title stays one line at 80 columns."""
    view = session.bc("dar3")
    title = "dar3 binding cache (2001:db8:3::1, prefix 2001:db8:3::/64) at t=0.000 s"
    assert render_text(view, width=80).splitlines()[0].rstrip() == title
