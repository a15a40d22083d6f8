"""Capture sets (issue 18): folders, --jobs N, shards and --merge give the one run's report."""

from __future__ import annotations

import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scapy_fama.analysis import batch
from scapy_fama.analysis.analyze import analyze
from scapy_fama.analysis.batch import capture_set, merge, read_shards, shard, shard_from_json, shard_to_json
from scapy_fama.analysis.report import to_json
from tests.analysis.test_analysis_reader import ECHO, pcap

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
CORES = len(os.sched_getaffinity(0))


def shifted_copy(source: Path, target: Path, seconds: int) -> None:
    """``source`` (a little-endian microsecond pcap) with every record ``seconds`` later."""
    data = bytearray(source.read_bytes())
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    at = 24
    while at < len(data):
        sec, _usec, caplen, _ = struct.unpack_from("<IIII", data, at)
        struct.pack_into("<I", data, at, sec + seconds)
        at += 16 + caplen
    target.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def capture_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four separate captures: lab.pcap an hour apart each (no packet in two files)."""
    folder = tmp_path_factory.mktemp("set")
    for k in range(4):
        shifted_copy(PCAPS / "lab.pcap", folder / f"day{k}.pcap", 3600 * k)
    return folder


@pytest.mark.parametrize("name", sorted(p.name for p in PCAPS.iterdir() if p.suffix in (".pcap", ".pcapng")))
def test_one_files_shard_merges_into_its_own_report(name: str) -> None:
    path = PCAPS / name
    through_json = shard_from_json(json.loads(json.dumps(shard_to_json(shard(path)))))
    assert to_json(merge([through_json])) == to_json(analyze([path]))


OAI = Path(__file__).resolve().parents[3] / "shared" / "pcaps" / "oai-pmip6_lma2mags.pcap"


def test_a_pmipv6_capture_s_shard_merges_into_its_own_report() -> None:
    """A shard read back kept each Proxy BU's ProxyInfo as a dict: --merge of a PMIPv6
    capture's shard was a traceback ('dict' object has no attribute 'mn_id')."""
    if not OAI.exists():
        pytest.skip("../shared/pcaps not found")
    through_json = shard_from_json(json.loads(json.dumps(shard_to_json(shard(OAI)))))
    report = to_json(merge([through_json]))
    assert report == to_json(analyze([OAI])) and report["pmipv6"]


def test_a_capture_set_in_two_processes_and_merged_shards_equal_one_run(capture_folder: Path,
                                                                       tmp_path: Path) -> None:
    files, lenient = capture_set([capture_folder])
    assert [f.name for f in files] == [f"day{k}.pcap" for k in range(4)]
    one = to_json(analyze(files))
    assert len(one["files"]) == 4 and one["totals"]["duplicates"] == 0 and one["mns"]
    run = [sys.executable, "-m", "scapy_fama.cli.analyze"]
    done = subprocess.run([*run, str(capture_folder), "--jobs", "2", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == one
    for k in range(4):  # a batch engine: one shard per file, anywhere
        subprocess.run([*run, str(capture_folder / f"day{k}.pcap"), "--shard-out", str(tmp_path / "shards")],
                       check=True, capture_output=True, timeout=300)
    merged = subprocess.run([*run, "--merge", str(tmp_path / "shards"), "--json"], capture_output=True, text=True,
                            timeout=300)
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout) == one
    assert len(read_shards([tmp_path / "shards"])) == 4


def test_a_folder_is_its_captures(capture_folder: Path) -> None:
    """fama-analyze DIR reads the folder's captures, as replay does (issue 16.5)."""
    done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.analyze", str(capture_folder), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [Path(f["path"]).name for f in json.loads(done.stdout)["files"]] == [f"day{k}.pcap" for k in range(4)]


@pytest.mark.parametrize(
    "argv, says",
    [
        (["{empty}"], "no .pcap, .pcapng or .cap file in this folder"),
        (["--merge", "{bogus}"], "not a fama-analyze-shard/3 document"),
        (["--jobs", "0", "x.pcap"], "argument --jobs: must be at least 1: '0'"),
        # an OverflowError traceback from the process pool; now fama-fuzz's rule: at most the cores
        (["--jobs", "99999999999", "x.pcap"], f"argument --jobs: at most {CORES}, the cores usable here, not 99999999999"),
        (["/dev/null"], "/dev/null: not a regular file or folder"),  # it said "no such file or folder"
        (["--merge", "/dev/null"], "/dev/null: not a regular file or folder"),
        (["{empty}/none.pcap"], "none.pcap: no such file or folder"),
    ],
)
def test_bad_capture_sets_are_one_line(argv: list[str], says: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bogus.json").write_text(json.dumps({"schema": "fama-analyze/1"}))
    argv = [a.format(empty=tmp_path / "empty", bogus=tmp_path / "bogus.json") for a in argv]
    done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.analyze", *argv], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("fama-analyze: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr, done.stderr


def test_no_more_processes_than_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--jobs N started N processes for fewer files: the extra ones had nothing to read."""
    started: list[int] = []

    class Pool(ThreadPoolExecutor):  # the pool batch would start, counted, in threads
        def __init__(self, max_workers: int) -> None:
            started.append(max_workers)
            super().__init__(max_workers)

    monkeypatch.setattr(batch, "ProcessPoolExecutor", Pool)
    files = [PCAPS / "lab.pcap", PCAPS / "fig1.pcapng"]
    assert to_json(batch.analyze_set(files, 8)) == to_json(analyze(files))
    batch.write_shards(files[:1], tmp_path, 8)
    assert started == [2, 1]


SHARED = OAI.parent


def test_copies_across_files_are_found_by_jobs_and_merge_as_by_one_run(tmp_path: Path) -> None:
    """Two vantage points' files hold copies of one packet: one run counted them once (duplicates),
    --jobs 2 and --merge counted them twice (OAI: native 87 not 85, duplicates 0 not 2; all of
    shared/pcaps: 16 BUs not 15, 0 duplicates not 6)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/pcaps not found")
    run = [sys.executable, "-m", "scapy_fama.cli.analyze"]
    one = subprocess.run([*run, str(SHARED), "--json"], capture_output=True, text=True, timeout=300, check=True)
    two = subprocess.run([*run, str(SHARED), "--jobs", "2", "--json"], capture_output=True, text=True, timeout=300,
                         check=True)
    subprocess.run([*run, str(SHARED), "--shard-out", str(tmp_path)], capture_output=True, timeout=300, check=True)
    merged = subprocess.run([*run, "--merge", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300,
                            check=True)
    report = json.loads(one.stdout)
    assert report["totals"]["duplicates"] == 6 and report["signalling"]["BU"] == 15
    assert two.stdout == one.stdout and merged.stdout == one.stdout
    oai = sorted(SHARED.glob("oai-pmip6_*.pcap"))
    alone = to_json(analyze(oai))
    assert alone["totals"]["native"] == 85 and alone["totals"]["duplicates"] == 2
    assert to_json(merge([shard_from_json(json.loads(json.dumps(shard_to_json(shard(p))))) for p in oai])) == alone


def test_a_bad_file_in_a_folder_is_a_warning_and_the_rest_is_reported(tmp_path: Path) -> None:
    """An empty .pcap in a folder stopped the run (exit 2, no report of the other files); named on
    the command line it stays a one-line error."""
    if not SHARED.is_dir():
        pytest.skip("../shared/pcaps not found")
    oai = sorted(SHARED.glob("oai-pmip6_*.pcap"))
    folder = tmp_path / "set"
    folder.mkdir()
    for path in oai:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "empty.pcap").write_bytes(b"")
    run = [sys.executable, "-m", "scapy_fama.cli.analyze"]
    reports = []
    for extra in ([], ["--jobs", "2"]):
        done = subprocess.run([*run, str(folder), "--json", *extra], capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr
        reports.append(done.stdout)
    written = subprocess.run([*run, str(folder), "--shard-out", str(tmp_path / "shards")], capture_output=True,
                             text=True, timeout=300)
    assert written.returncode == 1, written.stderr  # as the plain run: it exited 0, the file unmentioned
    assert written.stderr.strip().splitlines()[-1] == "warning: empty.pcap: 0 bytes, not a pcap or pcapng file: " \
        "results up to the break"
    merged = subprocess.run([*run, "--merge", str(tmp_path / "shards"), "--json"], capture_output=True, text=True,
                            timeout=300)
    assert merged.returncode == 1 and reports == [merged.stdout] * 2
    report = json.loads(merged.stdout)
    rest = to_json(analyze(oai))
    assert report["totals"] == rest["totals"] and report["signalling"] == rest["signalling"]
    assert report["totals"]["native"] == 85 and report["totals"]["duplicates"] == 2
    says = "empty.pcap: 0 bytes, not a pcap or pcapng file"
    assert [f["truncated"] for f in report["files"]] == [says, None, None, None]
    assert [f["message"] for f in report["findings"] if f["kind"] == "capture-truncated"] == [says]
    named = subprocess.run([*run, str(folder / "empty.pcap"), str(folder)], capture_output=True, text=True,
                           timeout=120)
    assert named.returncode == 2 and named.stderr.strip() == f"fama-analyze: error: {folder / 'empty.pcap'}: 0 bytes, " \
        "not a pcap or pcapng file"


def test_an_unreadable_file_in_a_folder_is_a_warning_and_the_rest_is_reported() -> None:
    """A capture without read permission in a folder stopped the run (exit 2, "Permission
    denied", no report of the other files), where a file that is no capture is a warning; named
    on the command line it stays a one-line error. As root, the command runs as nobody."""
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root, and no setpriv to read as another user")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    with tempfile.TemporaryDirectory() as top:  # not under pytest's 0700 folder: nobody must reach it
        folder = Path(top) / "set"
        folder.mkdir()
        for name in ("fig1", "fig2"):
            (folder / f"{name}.pcapng").write_bytes((PCAPS / f"{name}.pcapng").read_bytes())
        locked = folder / "locked.pcapng"
        locked.write_bytes((PCAPS / "fig3.pcapng").read_bytes())
        locked.chmod(0)
        for path in (Path(top), folder):
            path.chmod(0o755)
        run = [*as_user, sys.executable, "-m", "scapy_fama.cli.analyze"]
        reports = []
        for extra in ([], ["--jobs", "2"]):
            done = subprocess.run([*run, str(folder), "--json", *extra], capture_output=True, text=True, timeout=300)
            assert done.returncode == 1, done.stderr
            assert done.stderr.splitlines() == ["warning: locked.pcapng: cannot be read (Permission denied): results "
                                                "up to the break"]
            reports.append(json.loads(done.stdout))
        assert reports[0] == reports[1]
        rest = to_json(analyze([folder / "fig1.pcapng", folder / "fig2.pcapng"]))
        assert reports[0]["totals"] == rest["totals"] and reports[0]["signalling"] == rest["signalling"]
        assert [f["truncated"] for f in reports[0]["files"]] == [None, None, "locked.pcapng: cannot be read "
                                                                             "(Permission denied)"]
        named = subprocess.run([*run, str(locked)], capture_output=True, text=True, timeout=120)
        assert named.returncode == 2 and named.stderr.strip() == f"fama-analyze: error: {locked}: Permission denied"


def _open_files_limit(soft: int, hard: int | None = None) -> Callable[[], None]:
    """A child's limits of open files (``ulimit -Sn``, ``ulimit -Hn``), set before it starts."""

    def limit() -> None:
        current = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, current if hard is None else hard))

    return limit


def test_more_captures_than_the_soft_limit_of_open_files(tmp_path: Path) -> None:
    """A folder of more captures than ``ulimit -n`` (1024 on many systems): every file is open
    while they are merged by time, and the files past the limit failed with 'Too many open
    files' (first an error, exit 2; found in a folder, a warning for each and their frames
    lost). The soft limit is raised as far as the hard one allows; past that, one line."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(100):  # three echoes each, a second apart, the files 10 s apart
        (folder / f"f{i:03d}.pcap").write_bytes(pcap([(1000 + 10 * i + k, ECHO) for k in range(3)]))
    command = [sys.executable, "-m", "scapy_fama.cli.analyze", str(folder), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=_open_files_limit(64))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    totals = json.loads(done.stdout)["totals"]
    assert totals["frames"] == totals["native"] == 300 and totals["other"] == 0
    capped = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            preexec_fn=_open_files_limit(64, 64))
    assert capped.returncode == 2 and capped.stderr == (
        "fama-analyze: error: 100 captures read at once need 164 open files, more than this system allows (64, "
        "ulimit -Hn): read them with --jobs N, or fewer at a time\n")
    pooled = subprocess.run([*command, "--jobs", "2"], capture_output=True, text=True, timeout=300,
                            preexec_fn=_open_files_limit(64, 64))
    assert pooled.returncode == 0 and json.loads(pooled.stdout) == json.loads(done.stdout), pooled.stderr
