"""``fama-fuzz --engine libfuzzer``: a harness under atheris, its crashes as fama-fuzz findings.

Theory of operation
-------------------
libFuzzer does the fuzzing (corpus, coverage, ``-fork``/``-jobs``, ``-merge``);
this module starts it, watches it and files what it finds::

    OUT/corpus-<harness>/  <- the seed corpus when empty (harness.Harness.corpus), or the seeds it
                              lacks when its seeding was cut short (seed_corpus)
    fama-fuzz-harness --harness=NAME [--keep-valid] -artifact_prefix=OUT/libfuzzer-<harness>/
        [-max_total_time=S] [-runs=N] [-fork=J -ignore_crashes=1 ...] [your flags] CORPUS
        stderr and stdout -> our stderr and OUT/libfuzzer-<harness>.log (libFuzzer's status
        lines; atheris prints an uncaught Python exception, the crash's where, on stdout)
    each crash-*/timeout-*/oom-* file -> Harness.check in this process (every oracle, a time
        limit of ours) -> a Finding (engine "libfuzzer", no mutation chain) -> <id>.pcap + <id>.json

Ctrl-C stops libFuzzer and files what it wrote until then (the summary says
``stopped: interrupted``), as the blind engine ends with its report; a SIGTERM to fama-fuzz
(``kill``, a CI job's time limit) does the same with SIGTERM, which libFuzzer takes as it takes
SIGINT (``-handle_term``), and ``stopped: terminated``. One that comes while the crash files are
filed (each run once, under :data:`TIME_LIMIT`) lets the filing finish and says so in ``stopped``;
a second one leaves the files not yet filed where libFuzzer wrote them (``Run.unfiled``), and the
summary still comes. libFuzzer runs in a
process group of its own: a Ctrl-C or SIGTERM reaches it (and its ``-fork`` jobs) from us, and whatever
of the group outlives libFuzzer (a job it started as it stopped) is killed, never left to
run on alone. A crash that
does not come back in process (a timeout under load, an out-of-memory of the whole
process) is still filed, with the oracle libFuzzer named and ``reproduced_alone`` false.
The seed corpus' captures that are damaged, cut short, no capture or (a capture point of them)
in a link type the reader does not read are told to ``warn``, one line each, as
``fama-fuzz-harness --seed-corpus`` tells them.
``--replay`` runs a filed finding's bytes against the harness's target like any other finding. ``merge`` runs libFuzzer's ``-merge=1``:
the inputs of several corpora that add coverage, into one small corpus.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scapy_fama.fuzz import findings
from scapy_fama.fuzz.campaign import SUMMARY_FORMAT, Terminated, sigterm_raises, stopped_by
from scapy_fama.fuzz.findings import Finding
from scapy_fama.fuzz.harness import HARNESSES, REFERENCE_CAPTURES, SEED, Harness, write_corpus
from scapy_fama.fuzz.oracles import Failure
from scapy_fama.interrupt import noted
from scapy_fama.schemas import document

TIME_LIMIT = 2.0  # seconds an artifact may take when it is run again in process
INTERRUPT_GRACE = 5.0  # seconds libFuzzer gets to stop on its own after a Ctrl-C
ARTIFACTS = {"crash": ("exception", "crash"), "timeout": ("hang", "timeout"), "oom": ("bounds", "out-of-memory"),
             "leak": ("bounds", "leak")}
STATUS = re.compile(r"#(\d+)\s.*?cov: (\d+) ft: (\d+) corp: (\d+)(?:/\S+)?.*?exec/s: (\d+)")
FORK_STATUS = re.compile(r"#(\d+): cov: (\d+) ft: (\d+) corp: (\d+) exec/s:? (\d+)")
SEEDING = ".fama-fuzz-seeding"  # a folder in a corpus being seeded (libFuzzer reads no dot-folder)


@dataclass
class Run:
    """What one libFuzzer run did, as fama-fuzz reports it."""

    harness: str
    keep_valid: bool
    command: list[str]
    seconds: float = 0.0
    execs: int = 0
    cov: int = 0  # libFuzzer's coverage counters (edges of our instrumented code)
    features: int = 0
    corpus: int = 0
    returncode: int = 0
    stopped: str = "libfuzzer"  # libFuzzer ended by itself (runs, time, a crash), "interrupted" (Ctrl-C), "terminated"
    findings: list[Finding] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    unfiled: list[Path] = field(default_factory=list)  # crash files a second Ctrl-C or SIGTERM left unfiled
    seeded: int = 0  # seed inputs this run wrote into the corpus (seed_corpus), of
    seeds: int = 0  # the seed corpus' inputs (0: the corpus was not seeded)

    @property
    def execs_per_second(self) -> float:
        return self.execs / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return document(SUMMARY_FORMAT, {
            "engine": "libfuzzer", "target": self.harness, "keep_valid": self.keep_valid,
            "cases": self.execs, "seconds": round(self.seconds, 3),
            "execs_per_second": round(self.execs_per_second, 1), "stopped": self.stopped,
            "libfuzzer_exit": self.returncode,
            "command": self.command,
            "findings": [f.summary(self.paths.get(f.id)) for f in self.findings],
            "coverage": {"cov": self.cov, "features": self.features, "corpus": self.corpus},
            "seed_corpus": {"written": self.seeded, "inputs": self.seeds} if self.seeds else None,
        })


def harness_command() -> str:
    """The ``fama-fuzz-harness`` executable (libFuzzer's -fork/-jobs re-run argv[0])."""
    beside = Path(sys.executable).with_name("fama-fuzz-harness")
    found = str(beside) if beside.exists() else shutil.which("fama-fuzz-harness")
    if found is None:
        raise ValueError("fama-fuzz-harness is not installed (pip install -e '.[fuzz]' in the checkout)")
    try:
        import atheris  # noqa: F401
    except ImportError:
        raise ValueError("--engine libfuzzer needs atheris: pip install 'scapy-fama[fuzz]'") from None
    return found


def _libfuzzer_flags(flags: list[str]) -> list[str]:
    bad = [f for f in flags if not f.startswith("-") or f.startswith("--")]
    if bad:
        raise ValueError(f"libFuzzer flags are -name=value after '--', not {' '.join(bad)}")
    return flags


def _known(harness: str) -> None:
    """ValueError unless ``harness`` is one of :data:`HARNESSES`."""
    if harness not in HARNESSES:
        raise ValueError(f"--engine libfuzzer fuzzes a harness: {', '.join(HARNESSES)}, not {harness!r}")


def run(harness: str, out: Path, *, corpus: Path | None = None, keep_valid: bool = False,
        seconds: float | None = None, runs: int | None = None, jobs: int = 1, flags: list[str] | None = None,
        captures: Path | None = None, warn: Callable[[str], None] | None = None) -> Run:
    """One libFuzzer campaign of ``harness`` (see the module docstring); an empty corpus is seeded
    from ``captures`` (default: the reference captures), ``warn`` told of each bad one."""
    _known(harness)
    extra = _libfuzzer_flags(list(flags or []))
    exe = harness_command()
    h = Harness(harness, keep_valid)
    corpus = corpus or out / f"corpus-{harness}"
    seeded, seeds = seed_corpus(corpus, lambda: h.corpus(captures or REFERENCE_CAPTURES, warn))
    artifacts = out / f"libfuzzer-{harness}"
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [exe, f"--harness={harness}", *(["--keep-valid"] if keep_valid else []),
               f"-artifact_prefix={artifacts}/", "-print_final_stats=1"]
    if seconds is not None:
        command.append(f"-max_total_time={int(seconds)}")
    if runs is not None:
        command.append(f"-runs={runs}")
    if jobs > 1:  # libFuzzer's fork mode: jobs in child processes, going on after a crash
        command += [f"-fork={jobs}", "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1"]
    command += [*extra, str(corpus)]
    result = Run(harness, keep_valid, command, seeded=seeded, seeds=seeds)
    before = set(artifacts.iterdir())
    log = out / f"libfuzzer-{harness}.log"
    result.seconds, result.returncode = _watch(command, log, result)
    _file_all(sorted(set(artifacts.iterdir()) - before), h, out, result)
    if result.returncode != 0 and not result.findings and result.stopped == "libfuzzer":
        raise ValueError(f"libFuzzer stopped with exit {result.returncode} and no crash file (see {log})")
    return result


def seed_corpus(corpus: Path, inputs: Callable[[], dict[str, bytes]]) -> tuple[int, int]:
    """Seed ``corpus`` with ``inputs()`` when it is empty, or when its seeding was cut short (a
    Ctrl-C, a SIGTERM: its :data:`SEEDING` folder is still there): each seed input not there whole
    is written, and the folder removed once all are. A corpus of other inputs (libFuzzer's, a
    merge's) is left as it is. (inputs written, seed inputs), (0, 0) when not seeded."""
    seeding = corpus / SEEDING
    if corpus.is_dir() and not seeding.is_dir() and any(corpus.iterdir()):
        return 0, 0
    seeding.mkdir(parents=True, exist_ok=True)
    seeds = inputs()
    missing = {name: raw for name, raw in seeds.items() if not _holds(corpus / name, raw)}
    write_corpus(missing, corpus)
    seeding.rmdir()
    return len(missing), len(seeds)


def _holds(path: Path, raw: bytes) -> bool:
    return path.is_file() and path.read_bytes() == raw


STOPPED_BY = {"interrupted": signal.SIGINT, "terminated": signal.SIGTERM}  # what libFuzzer's group is sent


def _watch(command: list[str], log: Path, result: Run) -> tuple[float, int]:
    """Run libFuzzer, pass its lines on to stderr and the log, read its status lines."""
    start = time.monotonic()
    with log.open("w") as keep, sigterm_raises(), subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            start_new_session=True) as proc:
        assert proc.stdout is not None
        kill_later: threading.Timer | None = None
        try:
            while True:
                try:
                    for line in proc.stdout:
                        keep.write(line)
                        sys.stderr.write(line)
                        _status(line, result)
                    break
                except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (Terminated): the campaign ends, not its report
                    if kill_later is None:  # libFuzzer stops itself, with its final stats, or is killed
                        result.stopped = stopped_by(stop)
                        _signal_group(proc, STOPPED_BY[result.stopped])
                        kill_later = threading.Timer(INTERRUPT_GRACE, _signal_group, (proc, signal.SIGKILL))
                        kill_later.start()
                    else:  # a second Ctrl-C or SIGTERM: at once
                        _signal_group(proc, signal.SIGKILL)
            code = proc.wait()
        finally:
            if kill_later is not None:
                kill_later.cancel()
            _signal_group(proc, signal.SIGKILL)  # what outlived libFuzzer: a -fork job started as it stopped
    return time.monotonic() - start, code


def _signal_group(proc: subprocess.Popen[str], signum: int) -> None:
    """``signum`` to libFuzzer's process group (its pid: ``start_new_session``), if any of it is left."""
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _status(line: str, result: Run) -> None:
    match = STATUS.search(line) or FORK_STATUS.search(line)
    if match:
        execs, cov, ft, corp, _rate = (int(g) for g in match.groups())
        result.execs = max(result.execs, execs)
        result.cov, result.features, result.corpus = max(result.cov, cov), max(result.features, ft), corp
    elif line.startswith("stat::number_of_executed_units:"):
        result.execs = max(result.execs, int(line.split(":")[-1]))


def _file_all(paths: list[Path], h: Harness, out: Path, result: Run) -> None:
    """File every artifact; a Ctrl-C or SIGTERM meanwhile is noted, not raised (a SIGTERM killed
    fama-fuzz here, its summary unprinted): the filing goes on, a second one stops it after the
    file in hand (see the module docstring)."""
    with noted(signal.SIGINT, signal.SIGTERM) as came:
        for n, path in enumerate(paths):
            if len(came) > 1:
                result.unfiled = paths[n:]
                break
            _file(path, h, out, result)
    if came and result.stopped == "libfuzzer":
        result.stopped = next(name for name, signum in STOPPED_BY.items() if signum == came[0])


def _file(path: Path, h: Harness, out: Path, result: Run) -> None:
    """One libFuzzer artifact as a finding (merged with an earlier one of the same signature)."""
    kind = path.name.split("-", 1)[0]
    if kind not in ARTIFACTS:
        return
    raw = path.read_bytes()
    h.campaign.config = replace(h.campaign.config, time_limit=TIME_LIMIT)  # in process: our own hang oracle
    outcome = h.check(raw)
    alone = isinstance(outcome, Failure)
    failure = outcome if isinstance(outcome, Failure) else Failure(
        *ARTIFACTS[kind], f"libFuzzer reported {kind} ({path.name}); in process it came out as {outcome!r}")
    same = next((f for f in result.findings if f.failure.signature == failure.signature), None)
    if same is not None:
        same.duplicates += 1
        result.paths[same.id] = findings.save(same, out)
        return
    found = Finding(h.name, SEED, 0, "libfuzzer", h.keep_valid, h.seed.name, [], [], failure, raw, raw, alone,
                    engine="libfuzzer", minimised="no-chain")
    result.findings.append(found)
    result.paths[found.id] = findings.save(found, out)


def check_merge(harness: str, corpora: list[Path]) -> None:
    """ValueError unless ``harness`` is one and every corpus a directory (before a folder is made)."""
    _known(harness)
    missing = [str(c) for c in corpora if not c.is_dir()]
    if missing or not corpora:
        raise ValueError(f"--merge needs corpus directories (--corpus DIR ...): {', '.join(missing) or 'none'}")


def merge(harness: str, into: Path, corpora: list[Path]) -> int:
    """libFuzzer's ``-merge=1``: the inputs of ``corpora`` that add coverage, copied ``into``.
    libFuzzer (and the inner merge process it starts) runs in a process group of its own, which a
    Ctrl-C or SIGTERM to fama-fuzz kills whole before they end fama-fuzz as they end any program;
    its control file is in a temporary folder of ours, removed then too (libFuzzer's own stays in /tmp)."""
    check_merge(harness, corpora)
    exe = harness_command()
    into.mkdir(parents=True, exist_ok=True)
    try:
        with sigterm_raises(), tempfile.TemporaryDirectory(prefix="fama-fuzz-merge-") as work:
            command = [exe, f"--harness={harness}", "-merge=1", f"-merge_control_file={work}/control.txt", str(into),
                       *map(str, corpora)]
            with subprocess.Popen(command, start_new_session=True) as proc:
                try:
                    return proc.wait()
                finally:  # what is left of the group: all of it after a Ctrl-C or SIGTERM
                    _signal_group(proc, signal.SIGKILL)
                    proc.wait()
    except Terminated:
        os.kill(os.getpid(), signal.SIGTERM)  # its handler as it was again: by default, the end of fama-fuzz
        raise
