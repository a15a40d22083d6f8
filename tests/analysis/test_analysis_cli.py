"""fama-analyze as a user meets it: the report, --json (schema fama-analyze/1), --plot, --mn,
--keys, and one-line errors with exit codes for files that are not captures or are cut short."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from scapy_fama.cli.analyze import main

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_report_names_the_handovers_bindings_and_findings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, PCAPS / "fail148.pcapng", "--keys", PCAPS / "keys")
    assert code == 0
    assert "handover" in out and "binding" in out and "kept" in out
    assert "verification-failed" in out and "status 148" in out


def test_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, PCAPS / "secure.pcapng", "--json", "--keys", PCAPS / "keys")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "fama-analyze/1"
    assert set(doc) == {"schema", "files", "capture", "totals", "signalling", "sightings", "dars", "keys", "mns",
                        "other_tunnels", "pmipv6", "findings", "warnings"}
    assert list(doc)[0] == "schema" and doc["pmipv6"] == {"bindings": [], "tunnels": []}
    (mn,) = doc["mns"]
    assert set(mn) == {"id", "addresses", "key_id", "attachments", "handovers", "bindings", "secure", "home_tests",
                       "deregistrations", "native"}
    (binding,) = mn["bindings"]
    assert set(binding) >= {"hoa", "dar", "state", "exchanges", "tunnel", "latency", "verified", "statuses"}
    (exchange,) = binding["exchanges"]
    assert exchange["secure"] and exchange["verified"] is True and exchange["ba_verified"] is True
    assert exchange["status"] == 0 and exchange["status_name"] == "Binding Update accepted"
    assert exchange["verdict"]["ok"] and {c["name"] for c in exchange["verdict"]["checks"]} >= {"cga", "signature", "bad"}
    (sec,) = mn["secure"]
    assert sec["rtt"] > 0 and sec["index"] is not None
    assert doc["dars"] == [{"prefix": f"2001:db8:{i}::/64", "address": f"2001:db8:{i}::1"} for i in (1, 2, 3)]
    assert binding["tunnel"]["down"]["per_second"]


def test_plot_one_png_per_mn(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, _ = run(capsys, PCAPS / "multianchor.pcapng", "--plot", tmp_path / "one.png")
    assert code == 0 and (tmp_path / "one.png").read_bytes().startswith(PNG)
    code, _, _ = run(capsys, PCAPS / "fail132.pcapng", "--plot", tmp_path / "two.png")  # the MN and the attacker
    assert code == 0 and all((tmp_path / f"two-mn{i}.png").read_bytes().startswith(PNG) for i in (1, 2))


def test_mn_filter(capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(run(capsys, PCAPS / "fail132.pcapng", "--json")[1])
    attacker = doc["mns"][1]["addresses"]
    code, out, _ = run(capsys, PCAPS / "fail132.pcapng", "--json", "--mn", attacker[0])
    assert code == 0 and [m["addresses"] for m in json.loads(out)["mns"]] == [attacker]
    assert {f["mn"] for f in json.loads(out)["findings"]} == {"mn2"}  # the attacker's 132 only
    code, out, err = run(capsys, PCAPS / "fig1.pcapng", "--json", "--mn", "2001:db8:9::9")
    assert json.loads(out)["warnings"] == ["no MN holds 2001:db8:9::9 in this capture"]
    assert err == "warning: no MN holds 2001:db8:9::9 in this capture\n"


def test_addresses_are_printed_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    shared = ROOT.parent / "shared" / "pcaps" / "oai-pmip6_mag22lma.pcap"
    if not shared.is_file():
        pytest.skip("../shared/pcaps not found")
    code, out, _ = run(capsys, shared)
    assert code == 0 and "2001:100::3" in out and "💯" not in out  # rich would read ":100:" as an emoji
    assert "back home" not in out  # a proxy BU registers its own source: no return home


def test_empty_capture(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    code, out, _ = run(capsys, path)
    assert code == 0 and "no frames" in out and "no findings" in out


def test_several_files_are_merged(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, PCAPS / "fig1.pcapng", PCAPS / "fig1.pcapng", "--json")
    doc = json.loads(out)
    assert code == 0 and len(doc["files"]) == 2
    assert doc["totals"]["frames"] == 2 * json.loads((PCAPS / "fig1.truth.json").read_text())["frames"]
    assert doc["signalling"]["BU"] == 1  # the second file's copies are the same packets


@pytest.mark.parametrize("content", [b"", b"not a capture at all", b"\xd4\xc3\xb2\xa1\x02\x00"])
def test_not_a_capture_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    code, out, err = run(capsys, path)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("fama-analyze: error: ")


def test_missing_file_and_bad_keys(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, tmp_path / "nothing.pcap")[0] == 2
    code, _, err = run(capsys, PCAPS / "fig1.pcapng", "--keys", tmp_path)
    assert code == 2 and "no *.pem" in err


def test_truncated_file_gives_results_up_to_the_break(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    whole = (PCAPS / "fig3.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    code, out, err = run(capsys, cut, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["warnings"] and "cut short" in doc["warnings"][0]
    assert doc["mns"] and doc["mns"][0]["handovers"]  # the first handover is before the break
    assert any(f["kind"] == "capture-truncated" for f in doc["findings"])
    # stdout holds the JSON alone, so the terminal hears of the break from stderr (exit 1 alone
    # said nothing of why): the same line the text report ends with
    assert err == f"warning: {doc['warnings'][0]}\n"
    code, out, err = run(capsys, cut)
    assert code == 1 and out.endswith(f"warning: {doc['warnings'][0]}\n") and err == ""


def test_as_a_command_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes((PCAPS / "fig1.pcapng").read_bytes()[:300])
    for args, code in (([str(PCAPS / "fig2.pcapng")], 0), ([str(bad)], 1), ([str(ROOT / "README.md")], 2)):
        done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.analyze", *args], capture_output=True, text=True,
                              check=False)
        assert done.returncode == code and "Traceback" not in done.stderr, done.stderr


def test_a_bad_mn_address_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([str(PCAPS / "fig1.pcapng"), "--mn", "2001:db8::zz"])
    assert exit_.value.code == 2
    assert "argument --mn: '2001:db8::zz' is not an IPv6 address" in capsys.readouterr().err
    doc = json.loads(run(capsys, PCAPS / "fail132.pcapng", "--json")[1])
    attacker = doc["mns"][1]["addresses"][0]
    long_form = IPv6Address(attacker).exploded.upper()
    code, out, _ = run(capsys, PCAPS / "fail132.pcapng", "--json", "--mn", long_form)  # any spelling
    assert code == 0 and [m["addresses"][0] for m in json.loads(out)["mns"]] == [attacker]


def test_plot_paths_are_checked_before_the_analysis(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the analysis ran before the plot path was checked")

    monkeypatch.setattr("scapy_fama.cli.analyze.analyze", never)
    for plot, says in (
        (Path("/nonexistent/x.png"), "fama-analyze: error: --plot /nonexistent/x.png: no such directory /nonexistent"),
        (tmp_path / "x.xyz", "cannot write .xyz images; use one of .avif, .eps,"),
    ):
        code, out, err = run(capsys, PCAPS / "fig1.pcapng", "--plot", plot)
        assert code == 2 and out == "" and err.count("\n") == 1 and says in err, err
        assert "matplotlib" not in err and "Format" not in err  # our line, not the library's


def test_plot_without_a_suffix_is_png_and_no_mn_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, PCAPS / "fig1.pcapng", "--plot", tmp_path / "fig1")
    assert code == 0 and (tmp_path / "fig1.png").read_bytes().startswith(PNG)
    assert f"plot written to {tmp_path / 'fig1.png'}" in err
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    code, _, err = run(capsys, empty, "--plot", tmp_path / "none.png")
    assert code == 0 and not (tmp_path / "none.png").exists()
    assert f"warning: no FAMA MN in the capture: no plot written to {tmp_path / 'none.png'}" in err


def _command(*args: str, columns: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.analyze", *args], capture_output=True, text=True,
                          check=True, env=env)
    return done.stdout


def test_a_piped_report_is_not_cut_at_80_columns() -> None:
    """In a pipe rich would draw 80 columns and cut the finding kinds ("verification-fai…"):
    the report is as wide as COLUMNS says, or 160 without it."""
    piped = _command(str(PCAPS / "fail148.pcapng"))
    widths = [len(line) for line in piped.splitlines()]
    assert max(widths) > 80 and max(widths) <= 160
    assert "verification-failed" in piped and "…" not in piped
    narrow = _command(str(PCAPS / "fail148.pcapng"), columns="100")
    assert max(len(line) for line in narrow.splitlines()) <= 100 and "verification-failed" in narrow


def test_progress_goes_to_the_terminal_when_the_report_goes_to_a_file(tmp_path: Path) -> None:
    """A 9 MB capture (the bar shows from 8 MB) with stdout to a file and stderr on a terminal:
    the terminal shows the bar, the file holds the report alone."""
    pexpect = pytest.importorskip("pexpect")
    frame = bytes.fromhex("6000000000401140" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002"
                          + "03e807d000400000") + bytes(56)  # IPv6 / UDP, 104 bytes
    count = (9 << 20) // (16 + len(frame)) + 1
    big = tmp_path / "big.pcap"
    with big.open("wb") as f:
        f.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000065000000"))  # LINKTYPE_RAW (101)
        f.write(b"".join(struct.pack("<IIII", 1000 + i // 1000, i % 1000, len(frame), len(frame)) + frame
                         for i in range(count)))
    report = tmp_path / "report.txt"
    child = pexpect.spawn("/bin/sh", ["-c", f'"{sys.executable}" -m scapy_fama.cli.analyze "{big}" > "{report}"'],
                          encoding="utf-8", dimensions=(30, 120), timeout=120)
    terminal = child.read()  # to EOF: the command has let go of the terminal, on its way out
    # its exit itself, however long a busy machine takes to report it: close() alone gives the
    # child 0.1 s to be reaped, then signals it and fails when it is not gone 0.4 s later
    assert child.wait() == 0
    child.close()
    assert "reading" in terminal and "9.4 MB" in terminal
    text = report.read_text()
    assert "fama-analyze" in text and "reading" not in text
    assert re.search(rf"│\s+{count} │", text)  # the frame count, in the report
