"""fama-dar: run a Distributed Anchor Router on a real interface (root).

    fama-dar --iface eth1 --prefix 2001:db8:1::/64 --address 2001:db8:1::1 [--require-coa-test]
             [--kernel [--no-kernel-tunnel]] [--link-delay MS] [--link-loss P] [--link-seed N]
             [--log FILE] [--json-log FILE] [--name dar1]

The DAR sends RAs, answers RSs, BUs and CoTIs, tunnels the traffic of bound
HoAs and hands what is not for its link to the kernel's routing table. It
logs one line per message (stdout, or ``--log FILE``; ``--json-log FILE``
adds JSON lines) and stops cleanly, exit 0, on SIGINT or SIGTERM. Bad input
(an unknown interface, not root, a bad prefix or address) is one line on
stderr and exit 2. The kernel must not own the DAR's address and must not
forward (see :mod:`scapy_fama.net.iface`); fama-dar warns at start when the
kernel owns the address on IFACE, since the kernel then answers for it and
routes what the DAR sends by its own tables -- unless ``--kernel``: then the
namespace forwards, has an upstream interface with a default route and the
route ``PREFIX dev IFACE``; fama-dar puts its address on IFACE (/128, nodad),
creates the TUN ``fama-tun`` and routes each bound HoA into it, so the
kernel's packets for a HoA go through the tunnel to its CoA, and the
reverse-tunnelled packets of its MNs come out of it
(:mod:`scapy_fama.automata.kernel_path`). Where the kernel loads BPF lightweight
tunnels each such route carries the tunnel's program and the kernel encapsulates
(:mod:`scapy_fama.net.lwt`; the log's ``tunnel-entry`` record says which is used);
``--no-kernel-tunnel`` leaves it to the data plane. The namespace needs the nftables
table of :func:`scapy_fama.net.kernel.nft_install` (Parameter Problems off).

``--link-delay MS`` and ``--link-loss P`` emulate the access link in the role
(where tc netem is missing): every frame sent or received on IFACE waits MS/2
and is lost with probability P (a random generator seeded with
``--link-seed``, default 0); see :mod:`scapy_fama.net.linkemu`. The log's
first record says so (``link-emulation method=role-applied delay_ms=.. loss=..``).

``node_arguments`` and ``serve_node`` are shared with fama-mn.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

from scapy.arch import in6_getifaddr

from scapy_fama.automata import DarAutomaton, FamaAutomaton, LogSink
from scapy_fama.automata.warm import warm_up
from scapy_fama.cli.common import EXIT_OK, Parser, run, version, writable_file
from scapy_fama.net.iface import require_interface, require_root
from scapy_fama.net.linkemu import LinkEmulation
from scapy_fama.proto import DarConfig, DarCore

PROG = "fama-dar"


def node_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every role run on a real interface has."""
    ap.add_argument("--iface", required=True, help="the interface of the access link")
    ap.add_argument("--name", help="the node's name in log lines (default: the interface)")
    ap.add_argument("--log", type=Path, metavar="FILE", help="write the log lines here, not to stdout")
    ap.add_argument("--json-log", type=Path, metavar="FILE", help="also write each record as a JSON line")
    ap.add_argument(
        "--kernel",
        action="store_true",
        help="kernel mode: the kernel owns the addresses and carries the data, tunnels through a TUN",
    )
    ap.add_argument("--link-delay", type=float, default=0.0, metavar="MS", help="emulated link delay, MS/2 each way")
    ap.add_argument("--link-loss", type=float, default=0.0, metavar="P", help="emulated loss of each frame (0..1)")
    ap.add_argument("--link-seed", type=int, default=0, metavar="N", help="seed of the emulated loss (default 0)")


def emulation(args: argparse.Namespace) -> LinkEmulation | None:
    """The link emulation the options ask for, or None (a bad value is a ValueError)."""
    if args.link_delay == 0 and args.link_loss == 0:
        return None
    return LinkEmulation(args.link_delay, args.link_loss, args.link_seed)


def serve_node(args: argparse.Namespace, build: Callable[[LogSink], FamaAutomaton]) -> int:
    """Check the interface and privileges, then run ``build(log)`` until SIGINT/SIGTERM, its
    signalling path warmed first (automata/warm.py: the first BU is then no slower than the next)."""
    for flag, path in (("--log", args.log), ("--json-log", args.json_log)):
        if path is not None:
            writable_file(flag, path)
    require_interface(args.iface)
    require_root()
    log = LogSink.open(args.log, args.json_log)
    try:
        seconds = warm_up()
        node = build(log)
        log.write(node.name, "event", "warm-up", ms=round(seconds * 1e3, 3))
        node.serve()
    finally:
        log.close()
    return EXIT_OK


def _parsed(kind: Callable[[str], object], what: str, text: str) -> str:
    try:
        return str(kind(text))
    except ValueError as exc:
        raise ValueError(f"bad {what} {text!r}: {exc}") from None


def _kernel_owns(iface: str, address: str) -> bool:
    """Whether the kernel holds ``address`` on ``iface`` (it then answers NS for it)."""
    return any(
        name == iface and IPv6Address(held) == IPv6Address(address)
        for held, _, name in in6_getifaddr()
    )


def _serve(args: argparse.Namespace) -> int:
    core = DarCore(
        _parsed(IPv6Address, "address", args.address),
        _parsed(IPv6Network, "prefix", args.prefix),
        config=DarConfig(require_coa_test=args.require_coa_test),
        rand=os.urandom,
    )
    if not args.kernel and _kernel_owns(args.iface, core.address):
        print(
            f"{PROG}: warning: the kernel owns {core.address} on {args.iface}: it answers for "
            "that address and routes what the DAR sends by its own tables (BAs to CoAs it takes "
            f"for on-link wait for answers nobody gives); remove the address from {args.iface}, "
            "or run with --kernel",
            file=sys.stderr,
        )
    name = args.name or args.iface
    link = emulation(args)
    return serve_node(
        args,
        lambda log: DarAutomaton(
            core, iface=args.iface, name=name, log=log, kernel=args.kernel, emulation=link,
            kernel_tunnel=not args.no_kernel_tunnel,
        ),
    )


def parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog=PROG,
        description="Run a FAMA Distributed Anchor Router on a real interface (needs root).",
    )
    node_arguments(ap)
    ap.add_argument("--prefix", required=True, help="the /64 to advertise, e.g. 2001:db8:1::/64")
    ap.add_argument("--address", required=True, help="the DAR's address in it, e.g. 2001:db8:1::1")
    ap.add_argument(
        "--require-coa-test",
        action="store_true",
        help="secure mode: a BU needs a care-of token from CoTI/CoT first (profile §5)",
    )
    ap.add_argument(
        "--no-kernel-tunnel",
        action="store_true",
        help="kernel mode: encapsulate in the data plane, not with the route's BPF program (net/lwt.py)",
    )
    return version(ap)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run(PROG, lambda: _serve(args))


if __name__ == "__main__":
    sys.exit(main())
