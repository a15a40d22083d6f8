"""fama-analyze --annotate: comments read back with tshark equal the fama-analyze/1 JSON.

For each reference capture (pcaps/, with the MN's test key) the command writes the JSON and the
annotated pcapng in one run; tshark (stock dissectors only) then reads the pcapng and the test
parses the comments itself:

* every BU and BA of every exchange carries its binding, its verdict word and each check's name
  and result, its BU->BA latency and its answer, equal to the JSON's;
* every packet a finding lists carries that finding; copies at other capture points say so;
* the packets ``frame.comment contains "FAIL"`` shows are exactly the failed verifications;
* the comments are on exactly the signalling packets tshark sees (Mobility Headers, RS, RA,
  DAD probes), and nothing else of the capture changed: per frame the time to the nanosecond,
  the lengths, the capture point, the link type and the bytes (MD5) are tshark's same.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from scapy.utils import RawPcapWriter

from scapy_fama.analysis.analyze import analyze
from scapy_fama.analysis.reader import CaptureReader
from tests.corpus import TSHARK, TSHARK_MISSING, Node, run_tshark, tshark_env

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
CAPTURES = sorted(p.name for p in PCAPS.glob("*.pcap*"))
KEYS = PCAPS / "keys"
SIGNALLING = "mipv6 || icmpv6.type == 133 || icmpv6.type == 134 || (icmpv6.type == 135 && ipv6.src == ::)"
FRAME_FIELDS = ("frame.time_epoch", "frame.cap_len", "frame.len", "frame.interface_name", "frame.encap_type",
                "frame.md5_hash")
Ref = tuple[int, int]

tshark_needed = pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)
pytestmark = [pytest.mark.tshark, tshark_needed]


def fama_analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scapy_fama.cli.analyze", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


@cache
def annotated(name: str, out_dir: Path) -> tuple[dict[str, Any], Path]:
    out = out_dir / f"{name}.annotated.pcapng"
    done = fama_analyze(PCAPS / name, "--keys", KEYS, "--json", "--annotate", out)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(rf"annotated capture written to {re.escape(str(out))} \(\d+ signalling packets with a "
                        r"comment\)\n", done.stderr), done.stderr
    return json.loads(done.stdout), out


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("annotated")


def comments(pcap: Path) -> dict[int, list[str]]:
    """frame number -> the lines of its comments, as tshark reads them."""
    out: dict[int, list[str]] = {}
    for frame in json.loads(run_tshark(pcap, "-T", "json"), object_pairs_hook=Node):
        layers = frame.get("_source").get("layers")
        number = int(layers.get("frame").get("frame.number"))
        texts = [v for k, v in layers.walk() if k == "frame.comment"]
        if texts:
            out[number] = [line for text in texts for line in text.split("\n")]
    return out


def frames(pcap: Path, *, cut: bool = False) -> list[list[str]]:
    """FRAME_FIELDS of every frame; ``cut``: a file cut short (tshark reads up to the break, exit 2)."""
    args = ["-r", str(pcap), "-o", "frame.generate_md5_hash:TRUE", "-T", "fields"]
    for name in FRAME_FIELDS:
        args += ["-e", name]
    done = subprocess.run([str(TSHARK), *args], capture_output=True, text=True, timeout=300, env=tshark_env())
    assert done.returncode == (2 if cut else 0), done.stderr
    assert not cut or "cut short in the middle of a packet" in done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


def verdict_of(lines: list[str]) -> tuple[str, list[tuple[str, str]]] | None:
    """(word, [(check, result)]) of a comment's verdict line; None when it has none."""
    found = [line for line in lines if line.startswith("verdict: ")]
    if not found or found[0].startswith("verdict: none"):
        return None
    word, _, rest = found[0].removeprefix("verdict: ").partition(" (")
    checks = []
    for part in rest.removesuffix(")").split("; "):
        name, result = part.split(": ", 1)[0].split(" ", 1)
        checks.append((name, result))
    return word, checks


def expected_verdict(verdict: dict[str, Any] | None, ok: bool | None) -> tuple[str, list[tuple[str, str]]] | None:
    if verdict is None:
        return None
    word = {True: "VERIFIED", False: "FAILED", None: "not checked"}[ok]
    return word, [(c["name"], c["result"]) for c in verdict["checks"]]


def exchanges(doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(b, ex) for m in doc["mns"] for b in m["bindings"] for ex in b["exchanges"]]


@pytest.mark.parametrize("name", CAPTURES)
def test_comments_equal_the_json_verdicts(name: str, out_dir: Path) -> None:
    doc, out = annotated(name, out_dir)
    notes = comments(out)
    assert exchanges(doc), "a reference capture without exchanges"
    for b, ex in exchanges(doc):
        bu = notes[ex["bu"][1]]
        assert f"binding {b['hoa']} @ {b['dar']}" in bu[1]
        assert verdict_of(bu) == expected_verdict(ex["verdict"], ex["verified"]), (ex["bu"], bu)
        if ex["ba"] is None:
            assert not any(line.startswith("answered by BA") for line in bu)
            continue
        ba = notes[ex["ba"][1]]
        latency = f"BU->BA {ex['latency'] * 1000:.3f} ms"
        assert any(line.startswith(f"answered by BA #{ex['ba'][1]}: status {ex['status']} ") and latency in line
                   for line in bu), bu
        assert any(line.startswith(f"answers BU #{ex['bu'][1]} ") and latency in line for line in ba), ba
        assert verdict_of(ba) == expected_verdict(ex["ba_verdict"], ex["ba_verified"]), (ex["ba"], ba)
        assert ("PHKT issued" in "\n".join(ba)) == ex["phkt_issued"]
    for finding in doc["findings"]:
        for _, number in finding["packets"]:
            assert f"finding {finding['kind']} ({finding['severity']}): {finding['message']}" in notes[number]


@pytest.mark.parametrize("name", CAPTURES)
def test_fail_finds_every_failed_verification(name: str, out_dir: Path) -> None:
    doc, out = annotated(name, out_dir)
    failed = {ex["bu"][1] for _, ex in exchanges(doc) if ex["verified"] is False}
    failed |= {ex["ba"][1] for _, ex in exchanges(doc) if ex["ba_verified"] is False}
    notes = comments(out)
    copies = {n for n, lines in notes.items()
              if (m := re.search(r"\(the same packet as #(\d+), at another capture point\)", lines[0]))
              and int(m.group(1)) in failed}
    shown = {int(row[0]) for row in (line.split("\t") for line in run_tshark(
        out, "-Y", 'frame.comment contains "FAIL"', "-T", "fields", "-e", "frame.number").splitlines())}
    assert shown == failed | copies
    if name == "fail148.pcapng":
        assert shown  # the scenario's forged signature


@pytest.mark.parametrize("name", CAPTURES)
def test_every_signalling_packet_and_nothing_else_changes(name: str, out_dir: Path) -> None:
    _, out = annotated(name, out_dir)
    notes = comments(out)
    signalling = {int(row[0]) for row in (line.split("\t") for line in run_tshark(
        PCAPS / name, "-Y", SIGNALLING, "-T", "fields", "-e", "frame.number").splitlines())}
    assert set(notes) == signalling
    assert all(lines[0].startswith("fama-analyze: ") for lines in notes.values())
    original, written = frames(PCAPS / name), frames(out)
    if name.endswith(".pcap"):  # a pcap's one capture point is named after the file
        original = [row[:3] + [Path(name).stem] + row[4:] for row in original]
    assert written == original


def _nanosecond_copy(source: Path, target: Path) -> None:
    """``source`` as a nanosecond pcap whose times carry sub-microsecond digits."""
    with CaptureReader(source) as reader:
        records = list(reader.records())
        linktype = reader.interfaces[0].linktype
    with RawPcapWriter(str(target), linktype=linktype, nano=True, sync=False) as w:
        w.write_header(None)
        for number, _, ticks, data, wirelen, _, _ in records:
            w.write_packet(data, sec=ticks // 10**6, usec=(ticks % 10**6) * 1000 + number, caplen=len(data),
                           wirelen=wirelen)


def test_nanosecond_times_and_earlier_comments_are_kept(tmp_path: Path) -> None:
    nano = tmp_path / "lab-ns.pcap"
    _nanosecond_copy(PCAPS / "lab.pcap", nano)
    first = tmp_path / "once.pcapng"
    assert fama_analyze(nano, "--annotate", first).returncode == 0
    assert frames(first) == [row[:3] + ["lab-ns"] + row[4:] for row in frames(nano)]
    assert frames(nano)[0][0].endswith("001")  # nanoseconds really there
    again = tmp_path / "twice.pcapng"
    assert fama_analyze(first, "--annotate", again).returncode == 0
    once, twice = comments(first), comments(again)
    assert set(once) == set(twice) and once
    for number, lines in once.items():
        assert twice[number] == lines + lines  # the first run's comment, then this run's


def test_several_files_are_merged_by_time(tmp_path: Path) -> None:
    files = [PCAPS / "lab.pcap", PCAPS / "fig1.pcapng"]
    out = tmp_path / "both.pcapng"
    done = fama_analyze(*files, "--annotate", out)
    assert done.returncode == 0, done.stderr
    written = frames(out)
    assert sorted(written) == sorted([row[:3] + ["lab"] + row[4:] for row in frames(files[0])] + frames(files[1]))
    times = [float(row[0]) for row in written]
    assert times == sorted(times)
    analysis = analyze(files, index=True)
    assert analysis.packets is not None and len(comments(out)) == len(analysis.packets)
    assert any(line.startswith("answered by BA 1#") for lines in comments(out).values() for line in lines)


def test_bad_annotate_paths_are_one_line_before_the_analysis(tmp_path: Path) -> None:
    capture = tmp_path / "in.pcapng"
    capture.write_bytes((PCAPS / "fig1.pcapng").read_bytes())
    for path, says in ((tmp_path / "no" / "out.pcapng", "no such directory"), (tmp_path, "is a directory"),
                       (capture, "is an input file")):
        done = fama_analyze(capture, "--annotate", path)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("fama-analyze: error: --annotate ") and says in done.stderr
        assert len(done.stderr.splitlines()) == 1
    assert capture.read_bytes() == (PCAPS / "fig1.pcapng").read_bytes()
    for extra in (("--jobs", "2"), ("--merge",), ("--shard-out", str(tmp_path / "shards"))):
        done = fama_analyze(capture, "--annotate", tmp_path / "out.pcapng", *extra)
        assert done.returncode == 2 and done.stderr == ("fama-analyze: error: --annotate writes the captures back "
                                                        "from one process: leave out --jobs, --merge and --shard-out\n")
    assert not (tmp_path / "out.pcapng").exists() and not (tmp_path / "shards").exists()


def test_a_capture_cut_short_is_written_up_to_the_break(tmp_path: Path) -> None:
    whole = (PCAPS / "fig1.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    out = tmp_path / "out.pcapng"
    done = fama_analyze(cut, "--annotate", out)
    assert done.returncode == 1 and "cut short" in done.stdout  # analysed up to the break
    read = frames(cut, cut=True)  # tshark reads the cut file up to the same break
    assert frames(out) == read and read
    shown = subprocess.run([str(TSHARK), "-r", str(cut), "-Y", SIGNALLING, "-T", "fields", "-e", "frame.number"],
                           capture_output=True, text=True, timeout=300, env=tshark_env()).stdout
    signalling = {int(n) for n in shown.split()}
    assert set(comments(out)) == signalling and signalling
