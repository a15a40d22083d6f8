"""fama-fuzz at scale (issue 18): execs/s per core, --jobs 2 scaling, lines reached blind vs guided.

Three measurements in one run (run it alone: ``flock /tmp/fama-bench.lock``):

1. **Blind execs/s per core**, in process, every oracle on, for each in-process target
   (N cases each, seed 7). Target: inproc (the default campaign: DarCore and MnCore through
   the codec, liveness after every case) at >= 5,000 execs/s. Baseline, measured in the same
   run over the very bytes of those cases: ``codec.decode`` alone, the one step every distinct
   mutant of every target takes (ratio = campaign / decode-only; 1.0 would mean mutating, the
   target's own work and the oracles cost nothing). Then where an inproc case's time goes.
2. **--jobs 2 scaling**: the same inproc campaign of M cases, serial (``fama-fuzz --jobs 1``)
   and on two processes (``--jobs 2``), in turn, three rounds, the best of each; ratio =
   throughput of 2 jobs / 1, target >= 1.7. The two summaries must count the same outcomes
   (exit 1 otherwise). M = 40,000: a serial run of about 3 s, as 10,000 cases were when this
   part was written; at 0.85 s what a worker pays once (fork, first writes to the inherited
   heap, its memory of earlier cases filling up) weighed on what stands for an hours-long run.
3. **Lines reached in the same wall time**, blind engine versus libFuzzer-guided (atheris), both
   fuzzing DarCore through the codec (``--target dar``) on one core for S seconds. How they are
   counted: each engine runs at full speed with nothing watching; then its inputs run again in
   this process under coverage.py, which counts the statements of ``scapy_fama/proto/*.py`` and
   ``scapy_fama/codec.py`` executed. Blind: every case it ran, (seed, 0) .. (seed, N-1).
   Guided: its final corpus, the seed corpus included (libFuzzer keeps an input for each
   coverage feature it finds, so the corpus reaches what the run reached) and any crash input.
   Each input goes through the same target and oracles (the liveness probe's lines count for
   both); building the world and templates happens before counting starts.

Needs the ``fuzz`` extra (atheris, coverage) for part 3; without it part 3 says so and is
skipped.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from _common import ROOT, Report, child_env, ensure_project_on_path, fmt_rate, fmt_ratio, fmt_seconds, load_average, parser

ensure_project_on_path()

from scapy_fama.codec import decode  # noqa: E402
from scapy_fama.fuzz.campaign import Campaign, CampaignConfig, Summary  # noqa: E402
from scapy_fama.fuzz.parallel import run_parallel  # noqa: E402

TARGETS = ("inproc", "dar", "mn", "decode", "dissect", "analyze")
HEADLINE, EXECS_TARGET, SCALING_TARGET = "inproc", 5000.0, 1.7
COUNTED = [ROOT / "scapy_fama" / "codec.py", *sorted((ROOT / "scapy_fama" / "proto").glob("*.py"))]


def campaign(target: str, cases: int | None, seconds: float | None = None, seed: int = 7) -> Campaign:
    return Campaign(CampaignConfig(target=target, seed=seed, cases=cases, seconds=seconds, minimise=False))


def no_findings(report: Report, what: str, summary: Summary) -> None:
    if summary.findings:
        report.fail(f"{what}: findings in our own code: {[f.failure.signature for f in summary.findings]}")


def per_core(report: Report, cases: int) -> None:
    rows = []
    for target in TARGETS:
        for keep_valid in (False, True):
            c = Campaign(CampaignConfig(target=target, seed=7, cases=cases, keep_valid=keep_valid, minimise=False))
            summary = c.run()  # first: making the cases' bytes for the baseline fills the campaign's memory
            no_findings(report, target, summary)
            raws = [c.make_case(i).raw for i in range(cases)]
            t0 = time.perf_counter()
            for raw in raws:
                decode(raw)
            decode_rate = cases / (time.perf_counter() - t0)
            rate = summary.execs_per_second
            rows.append((target, "--keep-valid" if keep_valid else "plain", fmt_rate(rate, " execs/s"),
                         fmt_rate(decode_rate), fmt_ratio(rate / decode_rate), str(summary.pair_count())))
            if target == HEADLINE and not keep_valid:
                headline = rate
    report.table(f"1. blind engine, one core, {cases} cases per campaign, every oracle on",
                 ["target", "mode", "campaign", "decode only", "ratio", "coverage pairs"], rows)
    report.target(f"{HEADLINE} execs/s per core ({headline:.0f}) / {EXECS_TARGET:.0f}", headline / EXECS_TARGET, 1.0,
                  higher_is_better=True)
    breakdown(report, cases)


@contextlib.contextmanager
def stopwatch(spent: dict[str, float], running: list[float], step: str, owner: object, name: str,
              calls: Counter[str] | None = None) -> Iterator[None]:
    """``owner.name`` adds its own time to ``spent[step]`` inside the block: exclusive of the
    watched calls it makes (``running`` holds the time of the watched calls under way); and
    counts its calls in ``calls``."""
    inner = getattr(owner, name)

    def timed(*args: object, **kwargs: object) -> object:
        if calls is not None:
            calls[step] += 1
        running.append(0.0)
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            took = time.perf_counter() - t0
            spent[step] += took - running.pop()
            if running:
                running[-1] += took

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, inner)


def breakdown(report: Report, cases: int) -> None:
    """Where an inproc case's time goes: a campaign run with its steps' functions timed."""
    from scapy_fama.fuzz import campaign as campaign_module, seeds, targets

    c = campaign(HEADLINE, cases)
    spent: dict[str, float] = defaultdict(float)
    running: list[float] = []
    calls: Counter[str] = Counter()
    watched = [
        ("case generator (Random seeded from (seed, i))", campaign_module.random, "Random"),
        ("mutate", campaign_module, "mutate"), ("render (and re-sign)", campaign_module, "render"),
        ("codec.decode (distinct bytes, the probes' answers)", targets, "decode"),
        ("core on_message + encode, case's core and soak DAR", targets.InprocTarget, "deliver"),
        ("template clone", seeds.World, "clone"),
        ("core snapshot (as-built check, probe key)", seeds.World, "snapshot"),
        ("liveness probe (its decodes and deliveries above)", targets.InprocTarget, "alive"),
        ("bounds", targets.InprocTarget, "bounded"),
    ]
    with contextlib.ExitStack() as stack:
        for step, owner, name in watched:
            stack.enter_context(stopwatch(spent, running, step, owner, name, calls))
        t0 = time.perf_counter()
        summary = c.run()
        total = time.perf_counter() - t0
    rows = [(step, fmt_seconds(spent[step] / cases), f"{100 * spent[step] / total:.0f} %", str(calls[step]))
            for step, _, _ in watched]
    rows.append(("everything else (loop, memory look-ups, oracles' bookkeeping, timing)",
                 fmt_seconds((total - sum(spent.values())) / cases), "", ""))
    report.table(f"where an {HEADLINE} case's time goes ({cases} cases, {summary.execs_per_second:.0f} execs/s "
                 "with the timers in)", ["step", "per case", "share", "calls"], rows,
                 caption="a case whose message an earlier case decoded to takes that case's answers from memory: "
                         "no clone, core or snapshot (calls < cases)")


def cpu_seconds() -> float:
    """CPU time of this process and of its children that ended (the workers of --jobs)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def scaling(report: Report, cases: int, rounds: int) -> None:
    """1 and 2 processes in turn, ``rounds`` times each; the best throughput of each counts (what
    the machine gives when nothing else runs: other work on a 2-core machine halves a worker).
    Cores used = CPU seconds of the run (the workers' included) / its wall time: under 2 for
    ``--jobs 2``, the workers waited for a core that other work held."""
    best: dict[int, tuple[Summary, float]] = {}
    for _ in range(rounds):
        for jobs in (1, 2):
            c = campaign(HEADLINE, cases)
            cpu = cpu_seconds()
            s = c.run() if jobs == 1 else run_parallel(c, jobs)
            cores = (cpu_seconds() - cpu) / s.seconds
            no_findings(report, f"--jobs {jobs}", s)
            if jobs not in best or s.execs_per_second > best[jobs][0].execs_per_second:
                best[jobs] = s, cores
    (serial, _), (shared, _) = best[1], best[2]
    if serial.tally() != shared.tally():
        report.fail("--jobs 2 counted other outcomes than --jobs 1 on the same cases")
    rows = [(str(j), str(s.cases), fmt_seconds(s.seconds), fmt_rate(s.execs_per_second, " execs/s"), f"{cores:.2f}")
            for j, (s, cores) in sorted(best.items())]
    report.table(f"2. {HEADLINE}, the same {cases} cases on 1 and 2 processes, best of {rounds} rounds in turn",
                 ["--jobs", "cases", "wall", "throughput", "cores used"], rows,
                 caption=f"load average after: {load_average()}")
    report.target("--jobs 2 throughput / --jobs 1", shared.execs_per_second / serial.execs_per_second,
                  SCALING_TARGET, higher_is_better=True)


@contextlib.contextmanager
def counting() -> Iterator[dict[str, set[int]]]:
    """The statements of COUNTED executed inside the block: file name -> line numbers."""
    import coverage

    cov = coverage.Coverage(data_file=None, include=[str(p) for p in COUNTED])
    reached: dict[str, set[int]] = {}
    cov.start()
    try:
        yield reached
    finally:
        cov.stop()
        data = cov.get_data()
        for path in COUNTED:
            reached[label(path)] = set(data.lines(str(path)) or ())


IMPORTED = """
import json, sys, coverage
cov = coverage.Coverage(data_file=None, include=sys.argv[1:])
cov.start()
import scapy_fama.codec, scapy_fama.proto
cov.stop()
print(json.dumps({path: sorted(cov.get_data().lines(path) or ()) for path in sys.argv[1:]}))
"""


def label(path: Path) -> str:
    return path.name if path.name == "codec.py" else f"proto/{path.name}"


def statements() -> dict[str, int]:
    """The statements of each counted file that importing it does not run (function bodies, in
    the main): what a fuzzing input can reach. Importing is run in a fresh interpreter."""
    import coverage

    done = subprocess.run([sys.executable, "-c", IMPORTED, *map(str, COUNTED)], capture_output=True, text=True,
                          env=child_env(), check=True)
    at_import = json.loads(done.stdout)
    cov = coverage.Coverage(data_file=None)
    return {label(p): len(set(cov.analysis2(str(p))[1]) - set(at_import[str(p)])) for p in COUNTED}


def lines(report: Report, seconds: float) -> None:
    try:
        import atheris  # noqa: F401
        import coverage  # noqa: F401
    except ImportError as exc:
        report.note(f"3. skipped: {exc.name} is not installed (pip install -e '.[fuzz]')")
        return
    from scapy_fama.fuzz import libfuzzer
    from scapy_fama.fuzz.harness import Harness

    blind = campaign("dar", None, seconds, seed=1).run()
    no_findings(report, "blind dar", blind)
    replay = campaign("dar", None, seed=1)
    with counting() as blind_lines:
        for i in range(blind.cases):
            replay.run_case(i)
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stderr(io.StringIO()):  # libFuzzer's status lines
            guided = libfuzzer.run("dar", Path(tmp), seconds=seconds, flags=["-seed=1"])
        if guided.findings:
            report.fail(f"guided dar: findings in our own code: {[f.failure.signature for f in guided.findings]}")
        inputs = [p.read_bytes() for p in sorted((Path(tmp) / "corpus-dar").iterdir())]
        inputs += [p.read_bytes() for p in (Path(tmp) / "libfuzzer-dar").iterdir()]
        harness = Harness("dar")
        with counting() as guided_lines:
            for raw in inputs:
                harness.check(raw)
    total = statements()
    rows = []
    for name in sorted(total, key=lambda n: (n != "codec.py", n)):
        b, g = blind_lines[name], guided_lines[name]
        if b or g:
            rows.append((name, str(total[name]), str(len(b)), str(len(g)), str(len(b - g)), str(len(g - b))))
    sums = [sum(total.values())] + [sum(len(f(n)) for n in total) for f in (
        lambda n: blind_lines[n], lambda n: guided_lines[n], lambda n: blind_lines[n] - guided_lines[n],
        lambda n: guided_lines[n] - blind_lines[n])]
    rows.append(("all (proto/*.py + codec.py)", *map(str, sums)))
    report.table(f"3. lines reached fuzzing DarCore through the codec for {seconds:.0f} s on one core",
                 ["file", "statements not run at import", "blind", "guided", "blind only", "guided only"], rows,
                 caption=f"blind: {blind.cases} cases ({blind.execs_per_second:.0f} execs/s); guided: "
                         f"{guided.execs} libFuzzer runs ({guided.execs_per_second:.0f} execs/s), corpus of "
                         f"{len(inputs)} inputs replayed; files no input reached are left out of the rows, not of the last")
    report.target("lines reached, guided / blind", sums[2] / sums[1], 1.0, higher_is_better=True)


def main() -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, help="seconds each engine fuzzes in part 3 (default 60; --quick 10)")
    ap.add_argument("--part", type=int, action="append", choices=(1, 2, 3), help="run only this part (repeatable)")
    args = ap.parse_args()
    cases, scale = (500, 8000) if args.quick else (3000, 40000)
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    report = Report("fama-fuzz at scale: execs/s per core, --jobs 2, lines reached blind vs guided")
    report.header([("cases per campaign (1)", str(cases)), ("cases (2)", str(scale)), ("seconds per engine (3)",
                                                                                       f"{seconds:.0f}")])
    parts = set(args.part or (1, 2, 3))
    if 1 in parts:
        per_core(report, cases)
    if 2 in parts:
        scaling(report, scale, 2 if args.quick else 3)
    if 3 in parts:
        lines(report, seconds)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
