"""fama-analyze: handovers, bindings, verification, tunnels and findings of pcap/pcapng captures.

Theory of operation
-------------------
A thin front end over :mod:`scapy_fama.analysis`: arguments -> ``analyze()`` (with a
rich progress bar on stderr for inputs of 8 MB and more, wherever the report goes) ->
the rich report, or the fama-analyze/1 JSON document streamed to stdout, and the images
of ``--plot`` (matplotlib is imported only then; the path and format are checked
before the analysis starts), and the pcapng of ``--annotate`` (scapy_fama.analysis.annotate:
a comment on every signalling packet; one process, its path checked first too). Errors go
through :func:`scapy_fama.cli.common.run`: one line, an exit code.

    fama-analyze capture.pcap
    fama-analyze a.pcapng b.pcap --json > report.json
    fama-analyze capture.pcap --keys pcaps/keys --plot timeline.png --mn 2001:db8:1::1234
    fama-analyze capture.pcap --keys pcaps/keys --annotate annotated.pcapng
    fama-analyze captures/ --jobs 2                 (a folder: its *.pcap, *.pcapng, *.cap)
    fama-analyze day1.pcap --shard-out shards/      (one machine of a batch job per file) ...
    fama-analyze --merge shards/ --json             (... and the report of them all)

Exit codes: 0 analysed; 1 analysed, but a file was cut short or damaged (results up
to the break), or a file found in a folder is no capture or cannot be read, or a capture point
is in a link type the reader does not read (802.11, Bluetooth, ...: named, with its frames; the
rest analysed; with --shard-out: its shard is written, a warning printed, exit 1 too); 2 bad
input (a named file that is not a capture, a missing file, a key that does not load; captures
with a capture point in a link type the reader does not read and no frame in one it reads:
nothing analysed, each capture point not read named in the one line);
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from types import ModuleType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from scapy_fama.analysis import annotate, batch
from scapy_fama.analysis.analyze import Analysis, analyze, load_keys
from scapy_fama.analysis.report import render, to_json
from scapy_fama.cli.common import (
    EXIT_NEGATIVE,
    EXIT_OK,
    Parser,
    ipv6_address,
    jobs,
    nonempty_path,
    rich_console,
    run,
    usable_cores,
    version,
    writable_file,
    writable_folder,
    writing,
)

PROG = "fama-analyze"
PROGRESS_FROM = 8 << 20  # bytes: smaller inputs are done before a bar would be seen


def parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog=PROG,
        description="Reconstruct the FAMA handovers, bindings, verification and tunnel traffic of captures.",
    )
    ap.add_argument("files", nargs="+", type=nonempty_path, metavar="FILE",
                    help="pcap or pcapng files and folders of them (several: merged by time); a named file that "
                         "is no capture is an error, one found in a folder (or unreadable there) a warning (exit 1) and the rest "
                         "analysed")
    ap.add_argument("--jobs", type=jobs, default=1, metavar="N",
                    help=f"read the files in N processes: N at most the cores usable here ({usable_cores()}), no more "
                         "processes than files (the same report as one process; where no other file is within "
                         "2 s, a file's data is counted in its process)")
    ap.add_argument("--shard-out", type=nonempty_path, metavar="DIR",
                    help="write each file's stage-1 shard (JSON) into DIR for a later --merge, and stop "
                         "(exit 1 with a warning when a file was cut short or is no capture, as the report)")
    ap.add_argument("--merge", action="store_true",
                    help="the inputs are shards (JSON files, folders of them): report them as one run")
    ap.add_argument("--json", action="store_true", help="print the fama-analyze/1 JSON document on stdout")
    ap.add_argument("--plot", type=nonempty_path, metavar="OUT.png",
                    help="write a timeline image per MN (matplotlib; the suffix names the format)")
    ap.add_argument("--keys", type=nonempty_path, metavar="DIR", help="MN private keys (*.pem): decrypt PHKTs, check BADs")
    ap.add_argument("--mn", type=ipv6_address, metavar="ADDRESS", help="report only the MN holding this address")
    ap.add_argument("--annotate", type=nonempty_path, metavar="OUT.pcapng",
                    help="write the capture as pcapng with a comment on every signalling packet")
    return version(ap)


def _analyze(args: argparse.Namespace, progress: Console) -> Analysis:
    keys = load_keys(args.keys) if args.keys is not None else None
    if args.merge:
        return batch.merge(batch.read_shards(args.files), keys, args.mn)
    files, lenient = batch.capture_set(args.files)
    if args.jobs > 1 and len(files) > 1:  # one file: one process, no pool to start
        return batch.analyze_set(files, args.jobs, keys, args.mn, lenient)
    size = sum(p.stat().st_size for p in files)
    columns = (TextColumn("reading"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=progress, transient=True, disable=size < PROGRESS_FROM) as bar:
        task = bar.add_task("read", total=size)
        return analyze(files, keys=keys, mn=args.mn, index=args.annotate is not None, lenient=lenient,
                       progress=lambda done, total: bar.update(task, completed=done))


def _plotter(args: argparse.Namespace) -> ModuleType | None:
    """The plot module when --plot is given, its path checked (before any analysis)."""
    if args.plot is None:
        return None
    from scapy_fama.analysis import plot  # matplotlib only when asked for

    writable_file("--plot", args.plot)  # a folder, before .png is added to its name
    args.plot = plot.output(args.plot)
    writable_file("--plot", args.plot)  # /dev/null is a device, /dev/null.png would be a new file
    return plot


def _warn(err: Console, text: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(text)}", soft_wrap=True, highlight=False)  # a name is no markup


def _main(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.annotate is not None:
        if args.jobs > 1 or args.merge or args.shard_out is not None:
            raise ValueError("--annotate writes the captures back from one process: "
                             "leave out --jobs, --merge and --shard-out")
        writable_file("--annotate", args.annotate)
        annotate.output(args.annotate, batch.capture_set(args.files)[0])
    if args.shard_out is not None:
        writable_folder("--shard-out", args.shard_out)
        files, lenient = batch.capture_set(args.files)
        unanalysed = []
        for path, warnings in batch.write_shards(files, args.shard_out, args.jobs, lenient):
            err.print(f"shard written to {path}")
            unanalysed += warnings
        for warning in unanalysed:  # as the report's: the shard holds the frames up to a break
            _warn(err, warning)
        return EXIT_NEGATIVE if unanalysed else EXIT_OK
    plot = _plotter(args)
    analysis = _analyze(args, err)
    if args.json:
        json.dump(to_json(analysis), sys.stdout, indent=1)  # streamed: no second copy as one string
        print()
        for warning in analysis.warnings:  # the text report ends with them; beside JSON, stderr has them
            _warn(err, warning)
    else:
        render(analysis, out)
    if args.annotate is not None:
        with writing("--annotate", args.annotate):
            count = annotate.write(analysis, args.annotate)
        err.print(f"annotated capture written to {args.annotate} ({count} signalling packets with a comment)",
                  soft_wrap=True, highlight=False)
    if plot is not None:
        paths = plot.plot_timelines(analysis, args.plot)
        for path in paths:
            err.print(f"plot written to {path}")
        if not paths:
            others = "; its PMIPv6 nodes are in the report, not plotted" if analysis.proxy else ""
            err.print(f"[yellow]warning:[/] no FAMA MN in the capture: no plot written to {args.plot}{others}")
    return EXIT_NEGATIVE if analysis.partial else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # with --json, stdout carries only the JSON; progress, plots and warnings go to stderr;
    # no emoji: "2001:100::1" holds the code ":100:"
    err = rich_console(stderr=True, emoji=False)
    out = err if args.json else rich_console(emoji=False)
    return run(PROG, lambda: _main(args, out, err))


if __name__ == "__main__":
    sys.exit(main())
