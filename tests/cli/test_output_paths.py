"""An output path that cannot be one (a file where a folder goes, a folder under a file) is one
plain line naming the flag, the path and the problem, exit 2: they said "[Errno 17] File exists"."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest

from scapy_fama.cli import analyze, dar, fuzz, wireshark
from scapy_fama.cli.common import plain

PCAP = Path(__file__).resolve().parents[2] / "pcaps" / "fig1.pcapng"
DAR = ["--iface", "lo", "--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1"]


@pytest.mark.parametrize(
    ("main", "argv", "message"),
    [
        (analyze.main, [str(PCAP), "--shard-out", "{f}"], "fama-analyze: error: --shard-out {f}: not a directory"),
        (fuzz.main, ["--target", "dissect", "--cases", "1", "--out", "{f}"], "fama-fuzz: error: --out {f}: not a directory"),
        (wireshark.main, ["install", "--dir", "{f}"], "fama-wireshark: error: --dir {f}: not a directory"),
        (wireshark.main, ["install", "--dir", "{f}/x"],
         "fama-wireshark: error: --dir {f}/x: cannot create it (Not a directory)"),
        (dar.main, [*DAR, "--log", "{f}/x.log"], "fama-dar: error: --log {f}/x.log: {f} is not a directory"),
        (dar.main, [*DAR, "--json-log", "{d}"], "fama-dar: error: --json-log {d}: is a directory"),
    ],
)
def test_an_output_path_that_cannot_be_is_one_plain_line(
    main: Callable[[list[str]], int], argv: list[str], message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    f = tmp_path / "FILE"
    f.write_text("not a folder\n")
    names = {"f": str(f), "d": str(tmp_path)}
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err == message.format(**names) + "\n"


def test_any_other_os_error_is_its_path_and_problem() -> None:
    assert plain(FileExistsError(errno.EEXIST, "File exists", "out")) == "out: File exists"
    assert plain(OSError(errno.EXDEV, "Invalid cross-device link", "a", None, "b")) == "a -> b: Invalid cross-device link"
    assert plain(OSError("no errno")) == "no errno"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_an_output_that_cannot_be_written_names_its_path(capsys: pytest.CaptureFixture[str]) -> None:
    """A failed write of --annotate said "[Errno 28] No space left on device" and no path."""
    assert analyze.main([str(PCAP), "--annotate", "/dev/full"]) == 2
    assert capsys.readouterr().err == "fama-analyze: error: --annotate /dev/full: No space left on device\n"
