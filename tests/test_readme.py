"""The README's runnable examples run as written (a new user's first steps)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _run(code: str, cwd: Path) -> str:
    script = cwd / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _block(marker: str) -> str:
    found = [b for b in BLOCKS if marker in b]
    assert found, f"no README python block with {marker!r}"
    return found[0]


def test_first_signed_bu_example_runs(tmp_path: Path) -> None:
    code = _block("first_bu(") + (
        "\nassert verify_bu(p_bu) and verify_ba(p_ba, mn_keypair=key, bu=p_bu)\nassert verify_bu(p_bu2, phkt=phkt)\n"
    )
    assert "VERIFIED" in _run(code, tmp_path)
    assert (tmp_path / "fama.pcap").stat().st_size > 400


@pytest.mark.slow
def test_simnet_example_runs(tmp_path: Path) -> None:
    # what is missing lies in the two handover gaps and the datagrams still in flight at the end
    check = (
        "\nlost = flow1.down.missing()"
        "\nruns = sum(1 for i, s in enumerate(lost) if i == 0 or lost[i - 1] != s - 1)"
        "\nassert 0 < len(flow1.down.received) and runs <= 3, lost\n"
    )
    code = _block("SimNet(") + check
    out = _run(code, tmp_path)
    assert "dar1" in out and "binding cache" in out
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"backbone.pcap", "dar1.pcap", "dar2.pcap", "dar3.pcap"}


CONSOLE = re.findall(r"```console\n(.*?)```", README.read_text(), flags=re.S)


def _story(marker: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of the README console block holding ``marker``."""
    found = [b for b in CONSOLE if marker in b]
    assert found, f"no README console block with {marker!r}"
    steps: list[tuple[str, list[str]]] = []
    for line in found[0].splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Every expected line, in order; a line "..." stands for any number of lines."""
    pos = 0
    skipping = False
    for want in expected:
        if want == "...":
            skipping = True
            continue
        while pos < len(actual) and skipping and actual[pos] != want:
            pos += 1
        if pos >= len(actual) or actual[pos] != want:
            return False
        pos, skipping = pos + 1, False
    return skipping or pos == len(actual)


@pytest.mark.tshark
def test_wireshark_story_runs(tmp_path: Path) -> None:
    from tests.wireshark.plugin_view import lua_skip_reason

    if lua_skip_reason() is not None:
        pytest.skip(lua_skip_reason())
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "pcaps").symlink_to(README.parent / "pcaps")
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    for command, expected in _story("fama-wireshark install"):
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        output = [line.replace(str(home), "~") for line in (done.stdout + done.stderr).splitlines()
                  if not line.startswith("Running as user")]  # tshark's note when run as root
        assert done.returncode == 0, (command, output)
        assert _matches(expected, output), f"$ {command}\nexpected:\n" + "\n".join(expected) + \
            "\ngot:\n" + "\n".join(output)
