"""The README's first example runs as written (a new user's first steps)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_first_signed_bu_example_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    first = blocks[0]
    assert "first_bu" in first and "verify_bu" in first
    script = tmp_path / "first.py"
    script.write_text(first + "\nassert verify_bu(p_bu) and verify_ba(p_ba, mn_keypair=key, bu=p_bu)"
                      "\nassert verify_bu(p_bu2, phkt=phkt)\n")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "VERIFIED" in out.stdout and (tmp_path / "fama.pcap").stat().st_size > 400
