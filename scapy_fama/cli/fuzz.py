"""fama-fuzz: structure-aware fuzzing of FAMA signalling, in process or against any implementation.

Theory of operation
-------------------
A thin front end over :mod:`scapy_fama.fuzz`: arguments -> a
:class:`~scapy_fama.fuzz.campaign.Campaign` (rich progress with execs/s and
findings on stderr) -> the coverage table, the findings (one pcap + JSON each, in
``--out DIR``, or else in ./fama-fuzz-findings, made when the first is saved) and the
fama-fuzz/1 summary (``--out DIR/summary.json``, or on stdout with ``--json``).
``--replay FINDING.json`` runs one finding again. ``--engine libfuzzer`` hands a
harness to libFuzzer instead (:mod:`scapy_fama.fuzz.libfuzzer`; ``--seconds`` ->
``-max_total_time``, ``--cases`` -> ``-runs``, ``--jobs`` -> ``-fork``, flags after
``--`` as they are) and files its crashes as findings of the same format.

    fama-fuzz --target inproc --cases 100000 --seed 7 --keep-valid
    fama-fuzz --target dissect --seconds 60 --family structure,crypto --jobs 2
    fama-fuzz --target iface --iface eth1 --iut-address 2001:db8:1::1 --prefix 2001:db8:1::/64 \\
              --coa 2001:db8:2::100 --seconds 3600
    fama-fuzz --engine libfuzzer --target dar --seconds 600 --jobs 2 --keep-valid -- -max_len=2048
    fama-fuzz --replay fama-fuzz-findings/inproc-exception-1a2b3c4d.json

Exit status (:data:`EXIT_STATUS`, the end of ``--help``): 0 no findings, 1 findings (for
``--replay``: 0 it did not reproduce, 1 it did); a campaign that Ctrl-C or a SIGTERM ends exits the
same way, after its summary (``stopped: interrupted`` or ``terminated``: :mod:`.campaign`,
:mod:`scapy_fama.fuzz.libfuzzer`), never 130. 2 bad input, or libFuzzer failing without a
crash file; 3 a ``module:Class`` target that cannot be fuzzed (not a Target, or raising
NotImplementedError). 130 (:func:`~scapy_fama.cli.common.run`) only for a Ctrl-C before a campaign
has started (its target or seed corpus still being made) or during ``--replay`` or ``--merge``:
one line, no summary; a SIGTERM there ends fama-fuzz as it ends any program (143 in a shell).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scapy_fama.cli.common import (
    EXIT_NEGATIVE,
    EXIT_OK,
    Parser,
    interface,
    ipv6_address,
    jobs,
    nonempty_path,
    nonempty_text,
    positive_float,
    positive_int,
    rich_console,
    run,
    usable_cores,
    version,
    writable_folder,
)
from scapy_fama.fuzz import libfuzzer
from scapy_fama.fuzz.campaign import Campaign, CampaignConfig, Summary, TargetError, replay
from scapy_fama.fuzz.harness import Warnings
from scapy_fama.fuzz.mutators import FAMILIES
from scapy_fama.fuzz.parallel import run_parallel

PROG = "fama-fuzz"
EXIT_TARGET = 3  # the target itself cannot be fuzzed: not a finding (1), not bad arguments (2)
DEFAULT_CASES = 10_000
DEFAULT_OUT = Path("fama-fuzz-findings")
EXIT_STATUS = (
    "exit status: 0 no findings, 1 findings (for --replay: 0 it did not reproduce, 1 it did); a campaign that "
    "Ctrl-C or a SIGTERM ends exits the same way, after its summary (stopped: interrupted or terminated). "
    "2 bad input, or libFuzzer failing without a crash file; 3 a module:Class target that cannot be fuzzed. "
    "130 only for a Ctrl-C before a campaign has started (its target or seed corpus still being made) or during "
    "--replay or --merge: one line, no summary; a SIGTERM there ends fama-fuzz as it ends any program (143 in a shell)."
)

ALONE = {True: "replays alone", False: "needs the cases before it",
         None: "not known whether it replays alone (its check was interrupted)"}
MINIMISED = {"done": " after minimising", "cut-short": ", minimising cut short",
             "off": ", not minimised: --no-minimise", "not-alone": ", not minimised: only a case that replays alone is",
             "alone-unknown": ", not minimised: stopped before", "no-chain": "", None: ""}  # Finding.minimised


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog=PROG, description="Fuzz FAMA signalling: our dissector, our cores, or any implementation.",
                epilog=EXIT_STATUS)
    ap.add_argument("--target", type=nonempty_text, default="inproc",
                    help="dissect, inproc, iface, or module:Class (default inproc)")
    ap.add_argument("--cases", type=positive_int, help=f"cases to run (default {DEFAULT_CASES} unless --seconds)")
    ap.add_argument("--seconds", type=positive_float, help="stop after this many seconds")
    ap.add_argument("--jobs", type=jobs, default=1,
                    help="processes to share the cases out to, at most the cores fama-fuzz may use "
                    f"({usable_cores()} here; results as with 1; default 1)")
    ap.add_argument("--seed", type=int, default=1, help="campaign seed: case i depends on (seed, i) only")
    ap.add_argument("--family", type=nonempty_text, default=",".join(FAMILIES),
                    help=f"mutator families, of {','.join(FAMILIES)}")
    ap.add_argument("--keep-valid", action="store_true",
                    help="re-sign, recompute the BAD and the checksum after mutating (reach deep logic)")
    ap.add_argument("--time-limit", type=positive_float, default=2.0, help="seconds one case may take")
    ap.add_argument("--liveness-every", type=positive_int, help="cases between liveness probes")
    ap.add_argument("--out", type=nonempty_path, metavar="DIR",
                    help=f"directory for findings and summary.json (default: findings only, in ./{DEFAULT_OUT}, "
                         "made when the first is saved)")
    ap.add_argument("--no-minimise", action="store_true", help="save findings as generated")
    ap.add_argument("--json", action="store_true", help="print the fama-fuzz/1 summary on stdout")
    ap.add_argument("--replay", type=nonempty_path, metavar="FINDING", help="run a saved finding (its .json) again")
    lf = ap.add_argument_group("--engine libfuzzer (atheris; --target dissect, decode, dar, mn or analyze)")
    lf.add_argument("--engine", choices=("blind", "libfuzzer"), default="blind",
                    help="blind: fama-fuzz's own case loop (default); libfuzzer: coverage-guided, under atheris")
    lf.add_argument("--corpus", type=nonempty_path, action="append", metavar="DIR",
                    help="libFuzzer's corpus directory (default OUT/corpus-TARGET, seeded when empty)")
    lf.add_argument("--merge", type=nonempty_path, metavar="DIR",
                    help="minimise the --corpus directories into DIR (libFuzzer -merge=1) and stop")
    lf.add_argument("libfuzzer_flags", nargs="*", type=nonempty_text, metavar="-FLAG=VALUE",
                    help="after '--': libFuzzer's own flags, e.g. -- -jobs=2 -dict=FILE -max_len=1024")
    iface = ap.add_argument_group("--target iface")
    iface.add_argument("--iface", type=nonempty_text, help="interface the implementation under test is reachable on")
    iface.add_argument("--iut-address", type=ipv6_address, help="the implementation's (DAR's) address")
    iface.add_argument("--prefix", type=nonempty_text, help="the /64 it anchors (fresh MNs' CGAs are made in it)")
    iface.add_argument("--coa", type=ipv6_address, help="care-of address outside --prefix whose traffic comes back on --iface")
    iface.add_argument("--wait", type=positive_float, default=0.05, help="seconds to collect answers per case")
    return version(ap)


def _iface_options(args: argparse.Namespace) -> dict[str, object]:
    missing = [f"--{n.replace('_', '-')}" for n in ("iface", "iut_address", "prefix", "coa") if not getattr(args, n)]
    if missing:
        raise ValueError(
            f"--target iface needs {', '.join(missing)} (the DAR's interface, its address, the prefix it "
            "anchors, and a care-of address in another prefix whose answers come back on the interface)"
        )
    interface("--iface", args.iface)
    try:
        prefix = IPv6Network(args.prefix)
    except ValueError as exc:
        raise ValueError(f"--prefix {args.prefix}: {exc}") from None
    dar, coa = IPv6Address(args.iut_address), IPv6Address(args.coa)
    if prefix.prefixlen != 64 or dar not in prefix or coa in prefix:
        raise ValueError(f"--prefix must be a /64 holding --iut-address and not --coa, got {prefix}")
    return {"iface": args.iface, "dar": str(dar), "prefix": str(prefix), "coa": str(coa), "wait": args.wait}


def _config(args: argparse.Namespace, out: Path) -> CampaignConfig:
    options = _iface_options(args) if args.target == "iface" else {}
    cases = args.cases if args.cases is not None else (None if args.seconds else DEFAULT_CASES)
    return CampaignConfig(
        target=args.target, seed=args.seed, cases=cases, seconds=args.seconds,
        families=tuple(f.strip() for f in args.family.split(",") if f.strip()), keep_valid=args.keep_valid,
        time_limit=args.time_limit, liveness_every=args.liveness_every, out=out,
        minimise=not args.no_minimise, target_options=options,
    )


def render_summary(summary: Summary, console: Console) -> None:
    table = Table(title=f"fama-fuzz {summary.config.target}: {summary.cases} cases in {summary.seconds:.1f} s "
                        f"({summary.execs_per_second:.0f} execs/s), seed {summary.config.seed}")
    for column in ("family", "cases", "distinct outcomes", "(mutator, outcome) pairs", "findings"):
        table.add_column(column, justify="right" if column != "family" else "left")
    for fam in summary.config.families:
        found = sum(1 for f in summary.findings if f.family == fam)
        table.add_row(fam, str(summary.family_cases[fam]), str(len(summary.outcomes[fam])),
                      str(summary.pair_count(fam)), str(found))
    console.print(table)
    for f in summary.findings:
        alone = ALONE[f.reproduced_alone]
        console.print(f"[red]finding[/] {f.id}: {f.failure.signature} (case {f.case}, {len(f.minimal_chain)} "
                      f"mutation(s){MINIMISED[f.minimised]}, {f.duplicates} duplicate(s), {alone})")
    if not summary.findings:
        console.print(f"no findings in {summary.cases} cases; coverage reached: {summary.pair_count()} distinct "
                      f"(mutator, outcome) pairs, stopped on {summary.stopped}")


def _out(args: argparse.Namespace) -> Path:
    """Where findings go, checked before the work: ``--out`` (made now; summary.json goes there
    too), or else ./fama-fuzz-findings, made only when a finding is saved (the summary is the
    one printed; a campaign without findings leaves nothing behind)."""
    if args.out is not None:
        writable_folder("--out", args.out)
        return args.out
    if DEFAULT_OUT.exists():
        writable_folder("--out", DEFAULT_OUT)
    elif not os.access(".", os.W_OK | os.X_OK):
        raise ValueError(f"findings would go to ./{DEFAULT_OUT}, which cannot be made here ({Path.cwd()} is not "
                         "writable): give --out DIR")
    return DEFAULT_OUT


def _write_summary(args: argparse.Namespace, data: dict[str, object]) -> None:
    """``--out DIR/summary.json``, when --out is given."""
    if args.out is not None:
        (args.out / "summary.json").write_text(json.dumps(data, indent=1) + "\n")


def _campaign(args: argparse.Namespace, console: Console) -> int:
    campaign = Campaign(_config(args, _out(args)))
    by_cases = campaign.config.cases is not None  # else the bar fills with --seconds
    columns = (TextColumn("fuzzing {task.fields[target]}"), BarColumn(), TextColumn("{task.fields[cases]} cases"),
               TextColumn("{task.fields[rate]} execs/s"), TextColumn("{task.fields[found]} findings"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("fuzz", total=campaign.config.cases if by_cases else campaign.config.seconds,
                            target=args.target, cases=0, rate=0, found=0)

        def progress(s: Summary) -> None:
            bar.update(task, completed=s.cases if by_cases else s.seconds, cases=s.cases,
                       rate=f"{s.execs_per_second:.0f}", found=len(s.findings))

        summary = campaign.run(progress) if args.jobs == 1 else run_parallel(campaign, args.jobs, progress)
    data = summary.as_dict()
    _write_summary(args, data)
    render_summary(summary, console)
    if args.json:
        print(json.dumps(data, indent=1))
    return EXIT_NEGATIVE if summary.findings else EXIT_OK


def _replay(args: argparse.Namespace, console: Console) -> int:
    try:
        result = replay(args.replay)
    except ValueError as exc:  # "PATH: problem"
        raise ValueError(f"--replay {exc}") from None
    expected = result.finding.failure.signature
    if result.reproduced:
        console.print(f"reproduced: {expected}")
    else:
        got = result.failure.signature if result.failure else "the case passed every oracle"
        console.print(f"did not reproduce {expected}: {got}")
    if result.regenerated is False:
        console.print("note: the minimal chain no longer regenerates the pcap's bytes (other seed messages?)")
    if result.failure is not None:
        console.print(result.failure.detail, markup=False, highlight=False)
    if args.json:
        print(json.dumps({"reproduced": result.reproduced, "expected": expected,
                          "failure": result.failure.as_dict() if result.failure else None,
                          "regenerated": result.regenerated}, indent=1))
    return EXIT_NEGATIVE if result.reproduced else EXIT_OK


def _refuse(message: str) -> int:
    raise ValueError(message)


def _unusable_target(body: Callable[[], int]) -> int:
    try:
        return body()
    except TargetError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_TARGET


def _libfuzzer(args: argparse.Namespace, console: Console) -> int:
    if args.merge is not None:  # no folder made before the input is known good, and no OUT: nothing goes there
        libfuzzer.check_merge(args.target, args.corpus or [])
        writable_folder("--merge", args.merge)
        return libfuzzer.merge(args.target, args.merge, args.corpus or [])
    work = args.out or DEFAULT_OUT  # libFuzzer's working folder: its corpus and crash files
    writable_folder("--out", work)
    if args.corpus is not None and len(args.corpus) > 1:
        raise ValueError("--engine libfuzzer fuzzes one --corpus directory (several are for --merge)")
    for corpus in args.corpus or []:
        writable_folder("--corpus", corpus)
    done = libfuzzer.run(args.target, work, corpus=args.corpus[0] if args.corpus else None,
                         keep_valid=args.keep_valid, seconds=args.seconds, runs=args.cases, jobs=args.jobs,
                         flags=args.libfuzzer_flags, warn=Warnings(PROG))
    data = done.as_dict()
    _write_summary(args, data)
    console.print(f"libFuzzer on {done.harness}: {done.execs} inputs in {done.seconds:.1f} s "
                  f"({done.execs_per_second:.0f} execs/s), coverage {done.cov} edges, {done.features} features, "
                  f"corpus {done.corpus} inputs; libFuzzer exit {done.returncode}"
                  + (f"; {done.stopped}" if done.stopped != "libfuzzer" else ""))
    if done.seeds:
        console.print(f"seed corpus: {done.seeded} inputs written" if done.seeded == done.seeds else
                      f"seed corpus: {done.seeded} of its {done.seeds} inputs written; the rest were there "
                      "from a seeding cut short")
    for f in done.findings:
        alone = "reproduced in process" if f.reproduced_alone else "did not come back in process"
        console.print(f"[red]finding[/] {f.id}: {f.failure.signature} ({alone}, {f.duplicates} duplicate(s))")
    if done.unfiled:
        console.print(f"{len(done.unfiled)} crash file(s) of libFuzzer left unfiled in {done.unfiled[0].parent}",
                      markup=False, highlight=False, soft_wrap=True)
    if args.json:
        print(json.dumps(data, indent=1))
    return EXIT_NEGATIVE if done.findings else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = rich_console(stderr=True, emoji=False)
    if args.engine == "libfuzzer" and args.replay is None:
        return run(PROG, lambda: _libfuzzer(args, console))
    if args.libfuzzer_flags or args.corpus or args.merge:
        return run(PROG, lambda: _refuse("--corpus, --merge and libFuzzer flags need --engine libfuzzer"))
    if args.replay is not None:
        return run(PROG, lambda: _unusable_target(lambda: _replay(args, console)))
    return run(PROG, lambda: _unusable_target(lambda: _campaign(args, console)))


if __name__ == "__main__":
    sys.exit(main())
