"""fama-lab: a FAMA network of namespaces on this machine: CN, core router, N DARs, an MN (root).

    fama-lab up [--dars N] [--delay MS] [--loss P] [--secure] [--rfc-timers]
    fama-lab status [--json] [--restart]
    fama-lab handover DAR
    fama-lab exec NODE -- CMD...
    fama-lab capture NODE FILE [--iface IF] [--seconds S]
    fama-lab demo [--json FILE] [--path 2,3,1]   (default: 2..N,1 for the N DARs up)
    fama-lab down

Theory of operation
-------------------
A thin front end over :mod:`scapy_fama.lab` (see there for the topology):
``up`` builds the namespaces, links and bridges and starts the roles, which
outlive the command; the others find the lab by its record and its names.
Errors go through :func:`scapy_fama.cli.common.run`: one line, exit 2 (not
root, a missing tool, a lab already up or none up, a bad node or DAR).
``status`` exits 1 when a role has exited; ``exec`` exits with the command's
code; ``demo`` exits 1 when the stream did not survive (SHA-256 differ), and 2 when a role
exits or a ``down`` takes the lab away while it runs (one line, saying which).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from rich.console import Console
from rich.table import Table

from scapy_fama.cli.common import (
    EXIT_NEGATIVE,
    EXIT_OK,
    MAX_LINK_DELAY_MS,
    Parser,
    nonempty_path,
    nonempty_text,
    number_in,
    positive_float,
    rich_console,
    run,
    version,
    writable_file,
    writing,
)
from scapy_fama.lab import apps, capture, control, demo, links, state
from scapy_fama.lab.topology import MAX_DARS, default_iface, node_namespace

PROG = "fama-lab"


def _up(args: argparse.Namespace, console: Console) -> int:
    lab = control.up(args.dars, args.delay, args.loss, args.secure, console.print, rfc_timers=args.rfc_timers)
    console.print(f"lab up: {lab.dars} DARs, MN on DAR 1 with {control.mn_addresses()[-1]}")
    return EXIT_OK


def _status(args: argparse.Namespace, console: Console) -> int:
    control.require_root()
    lab = control.require_up()
    if args.restart:
        notes = rich_console(stderr=True) if args.json else console  # with --json, stdout holds the JSON alone
        for node in control.restart_dead(lab):
            notes.print(f"restarted {node}")
    report = control.status(lab)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        console.print(f"lab up: {report['dars']} DARs, MN attached to DAR {report['attached']} "
                      f"(its port on {report['bridge']}); secure mode {'on' if report['secure'] else 'off'}; "
                      f"attachment timers: {'the RFCs' if report['rfc_timers'] else 'the profile'}")  # fmt: skip
        console.print(f"link emulation: {report['emulation']}")
        table = Table("role", "pid", "state")
        for role in report["roles"]:
            table.add_row(role["node"], str(role["pid"]),
                          "running" if role["running"] else f"exited: {role['last_error']}")  # fmt: skip
        console.print(table)
        console.print(f"MN addresses: {', '.join(report['mn_addresses']) or 'none yet'}")
        console.print(f"logs: {report['logs']}")
    return EXIT_OK if all(r["running"] for r in report["roles"]) else EXIT_NEGATIVE


def _handover(args: argparse.Namespace, console: Console) -> int:
    control.require_root()
    lab = control.require_up()
    to = control.dar_number(args.dar)
    moved = control.handover(lab, to)
    console.print(f"MN moved from DAR {moved.left} to DAR {to}")
    dead = [s for s in control.role_status(lab) if s.node in (f"dar{to}", "mn") and not s.running]
    for role in dead:  # the move is made, but nothing answers on its far side: as status says
        console.print(f"but {role.node} has exited: {role.last_error or 'no error logged'} "
                      "(fama-lab status --restart)")  # fmt: skip
    return EXIT_NEGATIVE if dead else EXIT_OK


def _exec(args: argparse.Namespace, console: Console) -> int:
    control.require_root()
    lab = control.require_up()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ValueError("no command: fama-lab exec NODE -- CMD...")
    ns = node_namespace(args.node, lab.topology)
    return subprocess.run(links.in_namespace(ns, command), check=False).returncode


def _capture(args: argparse.Namespace, console: Console) -> int:
    control.require_root()
    writable_file("FILE", args.file)
    lab = control.require_up()
    ns = node_namespace(args.node, lab.topology)
    iface = args.iface or default_iface(args.node)
    found = links.interfaces(ns)
    if iface not in found:  # it was the capturer's own words: "Interface 'nosuch0' not found !"
        raise ValueError(f"--iface {iface}: no such interface on {args.node} (it has {', '.join(found)})")
    process = capture.start(ns, iface, args.file.resolve())
    console.print(f"capturing {args.node} {iface} into {args.file} with {capture.tool()}"
                  f" ({f'{args.seconds:g} s' if args.seconds else 'Ctrl-C to stop'})")  # fmt: skip
    try:
        process.wait(args.seconds)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        pass
    finally:
        capture.stop(process)
    return EXIT_OK


def _demo(args: argparse.Namespace, console: Console) -> int:
    control.require_root()
    if args.json is not None:
        writable_file("--json", args.json)
    lab = control.require_up()
    result = demo.run(lab, args.path or demo.default_path(lab.dars), console.print, args.ping_interval / 1e3)
    demo.render(result, console)
    if args.json is not None:
        with writing("--json", args.json):
            args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return EXIT_OK if result["stream"]["intact"] else EXIT_NEGATIVE


def _down(args: argparse.Namespace, console: Console) -> int:
    control.require_root()
    removed = state.down()
    console.print(f"removed {', '.join(removed)}" if removed else "no lab namespaces: nothing to remove")
    return EXIT_OK


def _path(text: str) -> list[int]:
    try:
        return [control.dar_number(part) for part in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog=PROG, description="A FAMA network of network namespaces on this machine (needs root)."
    )
    sub = ap.add_subparsers(dest="command_name", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="build the lab and start the roles")
    up.add_argument("--dars", type=int, default=3, help=f"number of DARs, 1 to {MAX_DARS} (default 3)")
    up.add_argument("--delay", type=number_in(0, MAX_LINK_DELAY_MS), default=0.0, metavar="MS",
                    help=f"access-link delay each way, 0 to {MAX_LINK_DELAY_MS:g}")
    up.add_argument("--loss", type=number_in(0, 100), default=0.0, metavar="P",
                    help="access-link loss each way, percent (0 to 100)")
    up.add_argument(
        "--secure", action="store_true", help="DARs require a care-of test, the MN runs it before every BU (profile §5)"
    )
    up.add_argument(
        "--rfc-timers", action="store_true",
        help="attach at the RFCs' pace, not the profile's (§2, §9): the MN's RS after up to 1 s and its CoA "
        "used once DAD is over, the DARs' RA after up to 0.5 s and multicast RAs 3 s apart",
    )  # fmt: skip
    up.set_defaults(body=_up)
    st = sub.add_parser("status", help="what is up, each role running or not, the MN's addresses")
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    st.add_argument("--restart", action="store_true", help="start again the roles that exited")
    st.set_defaults(body=_status)
    ho = sub.add_parser("handover", help="move the MN's link to DAR's bridge")
    ho.add_argument("dar", type=nonempty_text, metavar="DAR", help="a DAR number (2) or name (dar2)")
    ho.set_defaults(body=_handover)
    ex = sub.add_parser("exec", help="run a command in a node's namespace")
    ex.add_argument("node", type=nonempty_text, metavar="NODE", help="cn, core, sw, darI or mn")
    ex.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD...")
    ex.set_defaults(body=_exec)
    ca = sub.add_parser("capture", help="capture a node's interface into a pcap file")
    ca.add_argument("node", type=nonempty_text, metavar="NODE", help="cn, core, sw, darI (its core side) or mn")
    ca.add_argument("file", type=nonempty_path, metavar="FILE")
    ca.add_argument("--iface", type=nonempty_text, help="another interface of the node")
    ca.add_argument("--seconds", type=positive_float, help="stop after this long (default: Ctrl-C)")
    ca.set_defaults(body=_capture)
    de = sub.add_parser("demo", help="TCP stream and ping across handovers, a native second connection")
    de.add_argument("--json", type=nonempty_path, metavar="FILE", help="also write the results as JSON")
    de.add_argument("--path", type=_path, help="the DARs to hand over to (default 2,...,N,1 on a lab of N "
                    "DARs: 2,3,1 on 3, 2,1 on 2)")
    low, high = (1e3 * s for s in apps.PING_INTERVALS)
    de.add_argument("--ping-interval", type=number_in(low, high), default=demo.PING_INTERVAL * 1e3, metavar="MS",
                    help=f"time between two echoes, {low:g} to {high:g} ms (default {demo.PING_INTERVAL * 1e3:g}): the "
                         "interruption is seen to within one interval at each end")  # fmt: skip
    de.set_defaults(body=_demo)
    dn = sub.add_parser("down", help="stop every role and delete everything named fama-lab-*")
    dn.set_defaults(body=_down)
    return version(ap)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = rich_console(highlight=False, soft_wrap=True)
    return run(PROG, lambda: args.body(args, console))


if __name__ == "__main__":
    sys.exit(main())
