"""The atheris harness (optional extra ``fuzz``): entry points run on seeds and on junk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scapy_fama.fuzz.harness import entry_point, write_corpus


@pytest.mark.parametrize("name", ["dissect", "dar"])
def test_entry_points_take_seeds_and_junk(name: str, tmp_path: Path) -> None:
    one_input, seeds = entry_point(name)
    for s in seeds:
        one_input(s.raw)
    for junk in (b"", b"\x60" * 39, seeds[0].raw[:50], seeds[0].raw + b"\x00" * 9):
        one_input(junk)
    write_corpus(seeds, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(s.name for s in seeds)


def test_atheris_runs_the_dissector_harness(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris (the optional extra 'fuzz') is not installed")
    done = subprocess.run([sys.executable, "-m", "scapy_fama.fuzz.harness", "dissect", "-runs=300"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Done 300 runs" in done.stderr
