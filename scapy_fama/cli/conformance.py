"""fama-conformance: judge a DAR or an MN implementation, in-process or over an interface.

Theory of operation
-------------------
::

    fama-conformance --list                                   the cases, with their requirements
    fama-conformance                                          every DAR case against our DarCore
    fama-conformance --role mn cga 'MN-RETX-*'                MN cases by group or ID pattern
    fama-conformance --target iface --iface eth1 --iut-address 2001:db8:1::1 \\
        --prefix 2001:db8:1::/64 --junit report.xml --json report.json --pcap cases/
    fama-conformance --role mn --target iface --iface eth1 --mn-keep all --mn-echo 7
                                                              an MN that answers UDP Echo on port 7

The command builds a :class:`~scapy_fama.conformance.config.RunConfig`,
checks that every output (``--junit``, ``--json``, ``--pcap``) can be written
before any case runs, builds an executor for the target and a tester for the
role, runs the selection (:mod:`scapy_fama.conformance.runner`) with a live
table, then writes the reports (:mod:`scapy_fama.conformance.report`): JUnit
and JSON first, the pcaps last, so that a capture that cannot be written never
costs the reports. ``--matrix`` also prints the requirement -> cases matrix
(with ``--list``: of the catalogue). The tester's RSA key is new for every
run; its CGAs are Sec 0 unless ``--sec`` says otherwise.

Exit codes: 0 no case failed (inconclusive ones allowed), 1 a case failed or
the tester erred, 2 bad input (unknown interface, bad address, no such case,
an output that cannot be written) or a broken test bed (the IUT does not
answer at all, is not of the role tested, or its network does not route the
tester's addresses back), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from scapy_fama.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_NEGATIVE,
    EXIT_OK,
    Parser,
    interface,
    ipv6_address,
    nonempty_path,
    nonempty_text,
    positive_float,
    rich_console,
    run,
    udp_port,
    version,
    writable_file,
    writable_folder,
)
from scapy_fama.conformance import catalogue
from scapy_fama.conformance.case import Verdict, select
from scapy_fama.conformance.config import RunConfig
from scapy_fama.conformance.dar_tester import DarTester
from scapy_fama.conformance.executor import Executor, InprocDar
from scapy_fama.conformance.inproc_mn import DrivenMn
from scapy_fama.conformance.report import LiveTable, junit, matrix_table, pcaps, write_json
from scapy_fama.conformance.requirements import matrix
from scapy_fama.conformance.runner import Outcome, run_all
from scapy_fama.crypto import KeyPair, addr_text
from scapy_fama.proto import KeepPolicy

PROG = "fama-conformance"


def parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Conformance tests for FAMA DARs and MNs.")
    p.add_argument("cases", nargs="*", type=nonempty_text, metavar="CASE",
                   help="ID glob (DAR-CGA-*), group (cga) or all")
    p.add_argument("--role", choices=("dar", "mn"), help="the IUT's role (dar; --list: both)")
    p.add_argument("--target", choices=("inproc", "iface"), default="inproc")
    p.add_argument("--iface", type=nonempty_text, help="the interface on the IUT's link (--target iface)")
    p.add_argument("--iut-address", type=ipv6_address, default="2001:db8:1::1", help="a DAR IUT's global address")
    p.add_argument("--prefix", type=nonempty_text, default="2001:db8:1::/64", help="the /64 a DAR IUT serves")
    p.add_argument("--coa-prefix", type=nonempty_text, default="2001:db8:ca::/64",
                   help="the tester's CoAs (routed back here)")
    p.add_argument("--cn", type=ipv6_address, default="2001:db8:cc::1", help="the tester's correspondent address")
    p.add_argument("--wait", type=positive_float, default=1.0, help="seconds to wait for an answer (1)")
    p.add_argument(
        "--grace", type=positive_float, default=RunConfig.grace, metavar="S",
        help=f"an expected answer that misses --wait is awaited S seconds more: if it comes, the IUT is slow, "
             f"and the case inconclusive, not failed ({RunConfig.grace:g})",
    )  # fmt: skip
    p.add_argument("--secure", action="store_true", help="the DAR IUT requires the care-of test")
    p.add_argument("--sec", type=int, choices=(0, 1), default=0, help="Sec of the tester's CGAs")
    p.add_argument("--mn-keep", choices=[k.value for k in KeepPolicy], default="all", help="the keep policy the MN IUT runs with (all)")
    p.add_argument(
        "--mn-no-optimistic", action="store_true",
        help="the MN IUT waits DAD out before using an address (RFC 4862; fama-mn --no-optimistic)",
    )  # fmt: skip
    p.add_argument(
        "--mn-echo", type=udp_port, metavar="PORT",
        help="the MN IUT answers UDP Echo (RFC 862) on PORT: the data cases use it (fama-mn --udp-echo)",
    )  # fmt: skip
    p.add_argument(
        "--max-case-time", type=positive_float, metavar="S",
        help="a case that needs more than S seconds of waiting is inconclusive (MN give-up: ~110 s)",
    )  # fmt: skip
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--matrix", action="store_true", help="print the requirement -> cases matrix")
    p.add_argument("--junit", type=nonempty_path, help="write a JUnit XML report")
    p.add_argument("--json", type=nonempty_path, help="write a JSON report (schema fama-conformance/1)")
    p.add_argument("--pcap", type=nonempty_path, metavar="DIR", help="write DIR/<ID>.pcap for every case")
    return version(p)


def _config(args: argparse.Namespace) -> RunConfig:
    if args.target == "iface" and not args.iface:
        raise ValueError("--target iface needs --iface IF")
    if args.target == "iface":
        interface("--iface", args.iface)
    for flag, prefix in (("--prefix", args.prefix), ("--coa-prefix", args.coa_prefix)):
        if not prefix.endswith("/64"):
            raise ValueError(f"{flag} {prefix}: a /64 prefix, e.g. 2001:db8:1::/64")
        try:
            addr_text(prefix.split("/")[0])
        except ValueError as exc:
            raise ValueError(f"{flag} {prefix}: {exc}") from None
    return RunConfig(
        args.role or "dar", args.target, args.iface, addr_text(args.iut_address), args.prefix,
        args.coa_prefix, addr_text(args.cn), args.wait, args.secure, args.sec, args.mn_keep,
        args.max_case_time, args.mn_echo, not args.mn_no_optimistic, args.grace,
    )  # fmt: skip


def _listing(console: Console, role: str | None, patterns: list[str], cited: bool) -> None:
    chosen = [c for r in (("dar", "mn") if role is None else (role,)) for c in select(r, patterns or None)]
    if cited:
        table = Table("requirement", "cases", title="requirements -> cases")
        for clause, ids in matrix(chosen).items():
            table.add_row(clause, "  ".join(ids))
    else:
        table = Table("ID", "title", "requirement", "group")
        for c in chosen:
            table.add_row(c.id, c.title, c.requirement, c.group)
    console.print(table)


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output can be written: checked before any case runs (a typo must not cost a run)."""
    for flag, path in (("--junit", args.junit), ("--json", args.json)):
        if path is not None:
            writable_file(flag, path)
    if args.junit is not None and args.json is not None and args.junit.resolve() == args.json.resolve():
        raise ValueError(f"--junit and --json are both {args.json}: the JSON report would replace the JUnit one")
    if args.pcap is not None:
        writable_folder("--pcap", args.pcap, parents=False)


def _write_reports(outcomes: list[Outcome], config: RunConfig, args: argparse.Namespace) -> list[str]:
    """JUnit, JSON, then the pcaps; what could not be written, one line each."""
    writers: list[tuple[str, Path | None, Callable[[Path], None]]] = [
        ("--junit", args.junit, lambda path: junit(outcomes, config, path, args.pcap)),
        ("--json", args.json, lambda path: write_json(outcomes, config, path, args.pcap)),
        ("--pcap", args.pcap, lambda path: pcaps(outcomes, path)),
    ]
    problems = []
    for flag, path, write in writers:
        if path is None:
            continue
        try:
            write(path)
        except OSError as exc:
            problems.append(f"{flag} {path}: cannot write it ({exc.strerror or exc})")
    return problems


def _tester(config: RunConfig, key: KeyPair) -> Any:
    if config.role == "dar":
        executor: Executor = (
            InprocDar(config.iut, config.prefix)
            if config.target == "inproc"
            else catalogue.iface_dar(config)
        )
        return DarTester(
            executor, key, config.iut, config.prefix, coa_prefix=config.coa_prefix,
            cn=config.cn, wait=config.wait, grace=config.grace, secure=config.secure, sec=config.sec,
        )  # fmt: skip
    mn_executor = DrivenMn(key) if config.target == "inproc" else catalogue.iface_mn(config)
    return catalogue.mn_tester(mn_executor, config)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = rich_console(highlight=False)

    def body() -> int:
        catalogue.load()
        if args.list:
            _listing(console, args.role, args.cases, args.matrix)
            return EXIT_OK
        config = _config(args)
        cases = select(config.role, args.cases or None)
        _check_outputs(args)
        tester = _tester(config, KeyPair.generate(1024))
        live = LiveTable(console)
        try:  # a real IUT outlives the cases: it must answer before the first
            outcomes = run_all(cases, tester, live, probe_first=config.target == "iface")
        finally:
            close = getattr(tester.x, "close", None)
            if close is not None:
                close()
        live.summary(outcomes)
        if args.matrix:
            console.print(matrix_table(outcomes))
        problems = _write_reports(outcomes, config, args)
        for problem in problems:
            print(f"{PROG}: error: {problem}", file=sys.stderr)
        if problems:
            return EXIT_BAD_INPUT
        bad = any(o.verdict in (Verdict.FAIL, Verdict.ERROR) for o in outcomes)
        return EXIT_NEGATIVE if bad else EXIT_OK

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
