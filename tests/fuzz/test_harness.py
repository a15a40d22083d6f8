"""The libFuzzer harnesses (optional extra ``fuzz``): oracles, seed corpora, atheris runs, findings."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from scapy_fama import schemas
from scapy_fama.cli.fuzz import main
from scapy_fama.fuzz import findings, libfuzzer
from scapy_fama.fuzz.harness import HARNESSES, Harness, OracleFailure, capture_packets, write_corpus
from scapy_fama.fuzz.libfuzzer import _file, Run
from tests.corpus import shared_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", HARNESSES)
def test_harnesses_take_their_corpus_and_junk(name: str) -> None:
    harness = Harness(name)
    corpus = harness.corpus(ROOT / "pcaps")
    assert {s.name for s in harness.seeds} <= set(corpus)
    assert len(corpus) > len(harness.seeds)  # the reference captures' packets are in it
    for raw in list(corpus.values())[:40]:
        harness.one_input(raw)
    for junk in (b"", b"\x60" * 39, harness.seed.raw[:50], harness.seed.raw + bytes(9)):
        harness.one_input(junk)


def test_the_seed_corpus_holds_the_reference_captures_mobility_headers() -> None:
    # lab.pcap (pcaps/lab.truth.json): BUs and BAs of DAR 1's core side, all with a Mobility Header
    packets, cut, unread = capture_packets(ROOT / "pcaps" / "lab.pcap", mobility_only=True)
    assert packets and all(p[0] >> 4 == 6 for p in packets) and cut is None and unread == []
    everything, _, _ = capture_packets(ROOT / "pcaps" / "lab.pcap", mobility_only=False)
    assert len(everything) >= len(packets)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--seed-corpus={tmp}/x.pcap"], "--seed-corpus={tmp}/x.pcap: File exists"),
        (["--seed-corpus={tmp}/none/sub/c.zip", "--captures={tmp}/none"], "--captures: {tmp}/none: no such file or folder"),
        (["--seed-corpus={tmp}/c", "--captures={tmp}/x.pcap"], "--captures: {tmp}/x.pcap: 0 bytes, not a pcap or pcapng file"),
    ],
)
def test_a_seed_corpus_from_bad_paths_is_one_line(args: list[str], error: str, tmp_path: Path) -> None:
    """A folder over a file was a traceback; --captures naming nothing, or no capture, wrote a corpus
    of the seeds alone and exited 0."""
    (tmp_path / "x.pcap").touch()
    argv = [sys.executable, "-m", "scapy_fama.fuzz.harness", "--harness=dar", *(a.format(tmp=tmp_path) for a in args)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (1, f"fama-fuzz-harness: error: {error.format(tmp=tmp_path)}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pcap"]  # nothing written


def test_a_damaged_or_cut_capture_in_the_folder_is_one_warning_and_counted(tmp_path: Path) -> None:
    """Files of a --captures folder that are no capture or end in a record were skipped, or read up
    to the break, without a word (fama-analyze warns of them)."""
    source = shared_file("tcpdump_ipv6_mobility_1.pcap")  # 16 distinct frames
    captures = tmp_path / "caps"
    captures.mkdir()
    whole = source.read_bytes()
    (captures / "good.pcap").write_bytes(whole)
    (captures / "cut.pcap").write_bytes(whole[:-10])  # 10 bytes short: in the last frame's data
    (captures / "junk.pcap").write_bytes(b"not a capture")
    out = tmp_path / "corpus"
    argv = [sys.executable, "-m", "scapy_fama.fuzz.harness", "--harness=dar", f"--seed-corpus={out}",
            f"--captures={captures}"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    names = [p.name for p in out.iterdir()]
    good, cut = (sum(n.startswith(f"{stem}-") for n in names) for stem in ("good", "cut"))
    assert (done.returncode, good, cut) == (0, 16, 15)
    seeds = len(Harness("dar").seeds)
    assert done.stderr.splitlines() == [
        f"fama-fuzz-harness: warning: cut.pcap: cut short in the packet data of frame 16 at byte {len(whole) - 10}: "
        "15 packets up to the break kept",
        "fama-fuzz-harness: warning: junk.pcap: not a pcap or pcapng file (magic 6e6f7420): skipped",
        f"fama-fuzz-harness: {len(names)} inputs written to {out} ({seeds} seed messages, 3 capture files, "
        "2 of them damaged, cut short, no capture or not read)",
    ]


def test_a_capture_in_a_link_type_not_read_is_a_warning_not_a_silent_skip(tmp_path: Path) -> None:
    """An IEEE 802.11 capture (link type 105) gave the corpus no packet and no word, as if it held
    none; its frame carries an IPv6 packet behind LLC/SNAP, which the reader does not look for."""
    captures = tmp_path / "caps"
    captures.mkdir()
    (captures / "lab.pcap").write_bytes((ROOT / "pcaps" / "lab.pcap").read_bytes())
    frame = struct.pack("<HH18sH", 0x0208, 0, bytes(18), 0) + bytes.fromhex("aaaa03000000" "86dd") + b"\x60" + bytes(39)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105)  # pcap file header, link type 105
    (captures / "wifi.pcap").write_bytes(header + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)
    told: list[str] = []
    corpus = Harness("dar").corpus(captures, told.append)
    assert told == ["wifi.pcap: link type 105 (IEEE 802.11), which scapy-fama does not read (it reads IPv6 over raw "
                    "IP, Ethernet, Linux SLL/SLL2 and BSD loopback): its 1 frame was left unread"]
    assert any(name.startswith("lab-") for name in corpus) and not any(name.startswith("wifi-") for name in corpus)


def test_the_summary_counts_one_capture_file_in_the_singular(tmp_path: Path) -> None:
    """--captures=FILE: the summary said "1 captures"."""
    out = tmp_path / "corpus"
    argv = [sys.executable, "-m", "scapy_fama.fuzz.harness", "--harness=dar", f"--seed-corpus={out}",
            f"--captures={ROOT / 'pcaps' / 'fig1.pcapng'}"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0
    assert done.stderr.splitlines()[-1].endswith(" 1 capture file, 0 of them damaged, cut short, no capture or not read)")


def test_a_failed_oracle_is_raised_for_libfuzzer() -> None:
    harness = Harness("dar")
    harness.campaign.target.alive = lambda rng, now: "no BA to the probe"  # type: ignore[method-assign]
    with pytest.raises(OracleFailure, match="liveness:probe"):  # an accepted BU: the DAR changed
        harness.one_input(harness.campaign.world.seeds["phkt-bu"].raw)


def test_the_custom_mutator_keeps_frames_whole_and_re_signs() -> None:
    answered = {}
    for keep_valid in (False, True):
        harness = Harness("dar", keep_valid=keep_valid)
        out = [harness.mutate(harness.seed.raw, 4096, seed) for seed in range(80)]
        assert len(set(out)) > 40 and all(len(raw) <= 4096 for raw in out)
        answered[keep_valid] = sum(str(harness.check(raw)).startswith("BA ") for raw in out)
    assert answered[True] > answered[False]  # re-signed mutants get past authorisation to a BA


def test_a_libfuzzer_artifact_becomes_a_finding_that_replays(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A timeout libFuzzer saw but that passes in process: filed as a hang, not reproduced."""
    harness = Harness("decode")
    artifact = tmp_path / "timeout-0123"
    artifact.write_bytes(harness.seed.raw)
    done = Run("decode", False, [])
    _file(artifact, harness, tmp_path, done)
    (found,) = done.findings
    assert found.engine == "libfuzzer" and found.failure.signature == "hang:timeout" and not found.reproduced_alone
    again = findings.load(done.paths[found.id])
    assert again.engine == "libfuzzer" and again.minimal_raw == harness.seed.raw
    assert main(["--replay", str(done.paths[found.id]), "--json"]) == 0  # passes every oracle
    printed = json.loads(capsys.readouterr().out)
    assert printed["reproduced"] is False and printed["regenerated"] is None


@pytest.mark.slow
@pytest.mark.parametrize("name", HARNESSES)
def test_atheris_runs_every_harness_for_thousands_of_inputs(name: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris (the optional extra 'fuzz') is not installed")
    argv = [sys.executable, "-m", "scapy_fama.cli.fuzz", "--engine", "libfuzzer", "--target", name,
            "--cases", "2000", "--out", str(tmp_path), "--json", "--", "-seed=1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["engine"] == "libfuzzer" and summary["findings"] == []
    assert summary["cases"] >= 2000  # libFuzzer counts the seed corpus' runs too
    assert summary["coverage"]["cov"] > 100 and re.search(r"Done \d+ runs", done.stderr)


STAND_IN = """#!{python}
# libFuzzer's part in one campaign: a crash file under -artifact_prefix, a status line, then fuzzing
# on until interrupted (libFuzzer's -interrupted_exitcode is 72)
import pathlib, signal, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(72))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(72))
prefix = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-artifact_prefix="))
print("#100\\tNEW    cov: 10 ft: 20 corp: 3/1Kb lim: 4096 exec/s: 50 rss: 90Mb", file=sys.stderr, flush=True)
pathlib.Path(prefix, "crash-0001").write_bytes({raw!r})
time.sleep(300)
"""
DRIVER = """import sys
from scapy_fama.fuzz import libfuzzer
libfuzzer.harness_command = lambda: sys.argv[1]
from scapy_fama.cli.fuzz import main
sys.exit(main(sys.argv[2:]))
"""


def _interrupted_campaign(tmp_path: Path, stand_in_source: str, raw: bytes,
                          signum: int = signal.SIGINT) -> tuple[dict, str, Path]:
    """A libFuzzer campaign of ``decode`` whose libFuzzer is ``stand_in_source``, Ctrl-C'd (or sent
    ``signum``) once its crash file is there: (the summary printed, stderr, OUT)."""
    stand_in = tmp_path / "libfuzzer"
    stand_in.write_text(stand_in_source.format(python=sys.executable, raw=raw, pidfile=str(tmp_path / "job.pid")))
    stand_in.chmod(0o755)
    out = tmp_path / "out"
    fuzz = subprocess.Popen([sys.executable, "-c", DRIVER, str(stand_in), "--engine", "libfuzzer", "--target",
                             "decode", "--seconds", "300", "--out", str(out), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # a shell's background job (.ci/run under nohup or &) ignores SIGINT, and so would they
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        crash = out / "libfuzzer-decode" / "crash-0001"
        deadline = time.monotonic() + 120
        while not (crash.exists() and crash.read_bytes() == raw):
            assert fuzz.poll() is None and time.monotonic() < deadline, fuzz.communicate()
            time.sleep(0.05)
        if signum == signal.SIGINT:
            os.killpg(fuzz.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole process group
        else:
            os.kill(fuzz.pid, signum)  # kill, a CI job's time limit: fama-fuzz alone
        printed, err = fuzz.communicate(timeout=120)
    finally:
        if fuzz.poll() is None:
            os.killpg(fuzz.pid, signal.SIGKILL)
            fuzz.wait()
    assert fuzz.returncode == 1 and "Traceback" not in err, err  # 1: a finding
    return json.loads(printed), err, out


def test_ctrl_c_files_the_crashes_libfuzzer_wrote_and_ends_with_the_summary(tmp_path: Path) -> None:
    """Ctrl-C in a libFuzzer campaign ended it with 'interrupted', exit 130 and no summary, and the
    crash files libFuzzer had written were never filed; the next run skips them as older than
    itself. Now the campaign ends as a blind one does: its findings filed, its summary printed."""
    raw = Harness("decode").seed.raw
    summary, _err, out = _interrupted_campaign(tmp_path, STAND_IN, raw)
    assert summary["stopped"] == "interrupted" and summary["libfuzzer_exit"] == 72
    (found,) = summary["findings"]
    again = findings.load(Path(found["json"]))
    assert again.engine == "libfuzzer" and again.minimal_raw == raw and not again.reproduced_alone
    assert json.loads((out / "summary.json").read_text()) == summary


def test_sigterm_ends_libfuzzers_group_as_ctrl_c_does(tmp_path: Path) -> None:
    """A SIGTERM to fama-fuzz ended it at once (no findings filed, no summary) and left libFuzzer, in
    a process group of its own, fuzzing on. Now SIGTERM is passed on to the group and the campaign
    ends as after a Ctrl-C: its findings filed, its summary printed, libFuzzer gone."""
    raw = Harness("decode").seed.raw
    pidfile = tmp_path / "job.pid"  # the stand-in's own pid, for the check and the clean-up
    source = STAND_IN.replace("import pathlib, signal, sys, time\n",
                              "import os, pathlib, signal, sys, time\n"
                              "pathlib.Path({pidfile!r}).write_text(str(os.getpid()))\n")
    try:
        summary, _err, out = _interrupted_campaign(tmp_path, source, raw, signal.SIGTERM)
        assert summary["stopped"] == "terminated" and summary["libfuzzer_exit"] == 72  # it took the SIGTERM
        assert _gone(int(pidfile.read_text()), 60)
        (found,) = summary["findings"]
        assert findings.load(Path(found["json"])).minimal_raw == raw
        assert json.loads((out / "summary.json").read_text()) == summary
    finally:
        _stop_job(tmp_path)


# libFuzzer in fork mode as it stops: a job it started as the Ctrl-C came (one that never saw the
# SIGINT; its output goes to a log of its own), and atheris' report of an uncaught Python
# exception, which it prints on stdout
FORKING_STAND_IN = """#!{python}
import pathlib, signal, subprocess, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(72))
pidfile = pathlib.Path({pidfile!r})
subprocess.Popen([sys.executable, "-c", "import os, pathlib, signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                  f"pathlib.Path({{str(pidfile)!r}}).write_text(str(os.getpid())); time.sleep(300)"],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while not pidfile.exists() or not pidfile.read_text():
    time.sleep(0.01)
print(" === Uncaught Python exception: ===", flush=True)
print("RuntimeError: planted in the stand-in", flush=True)
prefix = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-artifact_prefix="))
pathlib.Path(prefix, "crash-0001").write_bytes({raw!r})
time.sleep(300)
"""


def _gone(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` has ended (or is a zombie) within ``seconds`` (0: now)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _stop_job(tmp_path: Path) -> None:
    """Whatever the test found, the stand-in's job ends with it."""
    pidfile = tmp_path / "job.pid"
    if pidfile.exists() and not _gone(int(pidfile.read_text()), 0):
        with contextlib.suppress(ProcessLookupError):  # it may have gone since
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_ctrl_c_leaves_no_libfuzzer_job_behind(tmp_path: Path) -> None:
    """A -fork job libFuzzer started as the Ctrl-C came outlived the campaign (up to 300 s of a
    core each, writing into OUT). Now libFuzzer runs in a process group of its own, which fama-fuzz
    signals on Ctrl-C and empties when libFuzzer has stopped."""
    try:
        _interrupted_campaign(tmp_path, FORKING_STAND_IN, Harness("decode").seed.raw)
        assert _gone(int((tmp_path / "job.pid").read_text()), 30), "a libFuzzer job outlived the campaign"
    finally:
        _stop_job(tmp_path)


def test_atheris_reports_of_python_exceptions_reach_the_log(tmp_path: Path) -> None:
    """atheris prints an uncaught Python exception, the crash libFuzzer files, on stdout, which
    fama-fuzz threw away: the log said "fuzz target exited" and not where. Now stdout joins stderr."""
    try:
        _summary, err, out = _interrupted_campaign(tmp_path, FORKING_STAND_IN, Harness("decode").seed.raw)
    finally:
        _stop_job(tmp_path)
    log = (out / "libfuzzer-decode.log").read_text()
    for shown in (log, err):
        assert "=== Uncaught Python exception: ===\nRuntimeError: planted in the stand-in" in shown


def test_a_libfuzzer_campaign_warns_of_each_bad_capture_it_seeds_from_as_the_harness_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """fama-fuzz --engine libfuzzer seeded its corpus from the captures with no warn: a damaged,
    cut or non-capture file was skipped, or read up to its break, without a word, where
    fama-fuzz-harness --seed-corpus says one line each. Now the same lines, under fama-fuzz's name."""
    captures = tmp_path / "caps"
    captures.mkdir()
    whole = (ROOT / "pcaps" / "lab.pcap").read_bytes()
    (captures / "good.pcap").write_bytes(whole)
    (captures / "cut.pcap").write_bytes(whole[:-10])
    (captures / "junk.pcap").write_bytes(b"not a capture")
    harness = subprocess.run([sys.executable, "-m", "scapy_fama.fuzz.harness", "--harness=dar",
                              f"--seed-corpus={tmp_path / 'seeds'}", f"--captures={captures}"],
                             capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    told = [line.split(": warning: ", 1)[1] for line in harness.stderr.splitlines() if ": warning: " in line]
    assert [t.split(":", 1)[0] for t in told] == ["cut.pcap", "junk.pcap"]
    stand_in = tmp_path / "libfuzzer"  # libFuzzer that finds nothing and stops at once
    stand_in.write_text(f"#!{sys.executable}\nimport sys\nsys.exit(0)\n")
    stand_in.chmod(0o755)
    monkeypatch.setattr(libfuzzer, "harness_command", lambda: str(stand_in))
    monkeypatch.setattr(libfuzzer, "REFERENCE_CAPTURES", captures, raising=False)  # main had no such name
    assert main(["--engine", "libfuzzer", "--target", "dar", "--cases", "1", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "warning" in line] == [f"fama-fuzz: warning: {t}" for t in told]
    seeded = sorted(p.name for p in (tmp_path / "out" / "corpus-dar").iterdir())
    assert seeded == sorted(p.name for p in (tmp_path / "seeds").iterdir())  # the same corpus, cut's packets kept


# libFuzzer that wrote two crash files and stopped by itself, and fama-fuzz sent ``signals`` as it
# starts to file them (a Ctrl-C, a CI job's time limit)
FILING_STAND_IN = """#!{python}
import pathlib, sys
prefix = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-artifact_prefix="))
for name in ("crash-0001", "crash-0002"):
    pathlib.Path(prefix, name).write_bytes({raw!r})
print("#100\\tDONE   cov: 10 ft: 20 corp: 3/1Kb lim: 4096 exec/s: 50 rss: 90Mb", file=sys.stderr, flush=True)
"""
FILING_DRIVER = """import os, signal, sys
from scapy_fama.fuzz import libfuzzer
libfuzzer.harness_command = lambda: sys.argv[1]
signals, file_one = [signal.Signals[s] for s in sys.argv[2].split(",")], libfuzzer._file
def filing(*args):
    while signals:
        os.kill(os.getpid(), signals.pop(0))
    file_one(*args)
libfuzzer._file = filing
from scapy_fama.cli.fuzz import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize(("signals", "stopped", "filed"),
                         [("SIGTERM", "terminated", 2), ("SIGINT,SIGTERM", "interrupted", 1)])  # fmt: skip
def test_a_signal_while_crash_files_are_filed_leaves_the_summary(signals: str, stopped: str, filed: int,
                                                                 tmp_path: Path) -> None:
    """A SIGTERM that came while libFuzzer's crash files were filed killed fama-fuzz (exit -15, no
    summary, the files not yet filed never filed: the next run skips them). Now the filing goes on
    and the summary comes; a second signal leaves the rest unfiled, and a line says where."""
    raw = Harness("decode").seed.raw
    stand_in = tmp_path / "libfuzzer"
    stand_in.write_text(FILING_STAND_IN.format(python=sys.executable, raw=raw))
    stand_in.chmod(0o755)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", FILING_DRIVER, str(stand_in), signals, "--engine", "libfuzzer",
                           "--target", "decode", "--cases", "100", "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, (done.returncode, done.stderr[-2000:])
    summary = json.loads(done.stdout)
    assert summary["stopped"] == stopped and json.loads((out / "summary.json").read_text()) == summary
    (found,) = summary["findings"]  # the same bytes twice: one finding, the other its duplicate
    assert found["duplicates"] == filed - 1 and findings.load(Path(found["json"])).minimal_raw == raw
    left = [line for line in done.stderr.splitlines() if "left unfiled" in line]
    assert left == ([] if filed == 2 else [f"1 crash file(s) of libFuzzer left unfiled in {out / 'libfuzzer-decode'}"])


def _descendants(pid: int) -> list[int]:
    """Process ``pid``'s children, then theirs (none of one that has gone meanwhile)."""
    children: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return children + [d for c in children for d in _descendants(c)]


def _cmdline(pid: int) -> str:
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/cmdline").read_text()
    return ""


def test_sigterm_during_a_merge_leaves_no_libfuzzer_behind(tmp_path: Path) -> None:
    """A SIGTERM to fama-fuzz --merge (kill, a CI job's time limit) ended fama-fuzz and left
    libFuzzer's merge, and the inner merge process it starts, running on alone and writing into
    the merged corpus. Now they are killed first (their control file removed), and fama-fuzz still
    ends as a SIGTERM ends it."""
    pytest.importorskip("atheris", reason="atheris (the optional extra 'fuzz') is not installed")
    write_corpus(Harness("dar").corpus(ROOT / "pcaps"), tmp_path / "corpus")
    fuzz = subprocess.Popen([sys.executable, "-m", "scapy_fama.cli.fuzz", "--engine", "libfuzzer", "--target", "dar",
                             "--merge", str(tmp_path / "merged"), "--corpus", str(tmp_path / "corpus")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    merging: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while not any("-merge_inner=1" in _cmdline(p) for p in merging):  # libFuzzer and its inner merge run
            assert fuzz.poll() is None and time.monotonic() < deadline, "the merge ended before its inner process"
            time.sleep(0.05)
            merging = _descendants(fuzz.pid)
        outer, *inner = merging
        flags = _cmdline(outer).split("\0")
        fuzz.send_signal(signal.SIGTERM)
        assert fuzz.wait(timeout=60) == -signal.SIGTERM  # ended as a SIGTERM ends any program
        assert _gone(outer, 0), f"libFuzzer's merge {flags} outlived fama-fuzz"
        assert all(_gone(pid, 30) for pid in inner), "libFuzzer's inner merge outlived fama-fuzz"
        # libFuzzer's own control file would stay in /tmp: fama-fuzz gives it one, and removes it
        (control,) = [f.split("=", 1)[1] for f in flags if f.startswith("-merge_control_file=")]
        assert not Path(control).exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(fuzz.pid, signal.SIGKILL)
        for pid in merging:
            if "fama-fuzz-harness" in _cmdline(pid) and not _gone(pid, 0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_a_seed_corpus_cut_short_is_completed_by_the_next_campaign(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign stopped while it wrote its seed corpus (a Ctrl-C, exit 130) left part of it, one
    input cut short; every later campaign found the corpus not empty and fuzzed without the rest.
    Now the next one writes what is missing or not whole, says so, and the one after writes nothing."""
    stand_in = tmp_path / "libfuzzer"  # libFuzzer that finds nothing and stops at once
    stand_in.write_text(f"#!{sys.executable}\nimport sys\nsys.exit(0)\n")
    stand_in.chmod(0o755)
    monkeypatch.setattr(libfuzzer, "harness_command", lambda: str(stand_in))
    corpus, written = tmp_path / "out" / "corpus-dar", 99
    write_bytes = Path.write_bytes

    def ctrl_c_at_the_100th_input(path: Path, data: bytes) -> int:
        nonlocal written
        if path.parent == corpus:
            written -= 1
            if written < 0:
                write_bytes(path, data[: len(data) // 2])
                raise KeyboardInterrupt
        return write_bytes(path, data)

    argv = ["--engine", "libfuzzer", "--target", "dar", "--cases", "1", "--out", str(tmp_path / "out"), "--json"]
    with monkeypatch.context() as cut:
        cut.setattr(Path, "write_bytes", ctrl_c_at_the_100th_input)
        assert main(argv) == 130
    seeds = Harness("dar").corpus()
    inputs = [p for p in corpus.iterdir() if p.is_file()]
    assert len(inputs) == 100 and sum(p.read_bytes() not in seeds.values() for p in inputs) == 1  # one cut short
    capsys.readouterr()
    assert main(argv) == 0
    assert {p.name: p.read_bytes() for p in corpus.iterdir() if p.is_file()} == seeds
    printed = capsys.readouterr()
    assert f"seed corpus: {len(seeds) - 99} of its {len(seeds)} inputs written" in printed.err
    # the summary says so too (it said nothing of the seeding)
    summary = json.loads(printed.out)
    assert summary["seed_corpus"] == {"written": len(seeds) - 99, "inputs": len(seeds)}
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text())
    jsonschema.Draft202012Validator(schemas.load("fama-fuzz/1")).validate(summary)
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "seed corpus" not in printed.err and json.loads(printed.out)["seed_corpus"] is None
