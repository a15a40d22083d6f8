"""fama-dar: run a Distributed Anchor Router on a real interface (root).

    fama-dar --iface eth1 --prefix 2001:db8:1::/64 --address 2001:db8:1::1 [--require-coa-test]
             [--accept-untracked-na] [--ra-delay S] [--min-delay-between-ras S]
             [--kernel [--no-kernel-tunnel] [--no-nft]] [--link-delay MS] [--link-loss P] [--link-seed N]
             [--log FILE] [--json-log FILE] [--name dar1]

The DAR sends RAs, answers RSs, BUs and CoTIs, tunnels the traffic of bound
HoAs and hands what is not for its link to the kernel's routing table. It
logs one line per message (stdout, or ``--log FILE``; ``--json-log FILE``
adds JSON lines) and stops cleanly, exit 0, on SIGINT or SIGTERM. Bad input
(an unknown interface, not root, a bad prefix or address, an interface a
fama-dar or fama-mn of the namespace runs on already: :mod:`scapy_fama.net.claim`)
is one line on stderr and exit 2. The kernel must not own the DAR's address and must not
forward (see :mod:`scapy_fama.net.iface`); fama-dar warns at start when the
kernel owns the address on IFACE, since the kernel then answers for it and
routes what the DAR sends by its own tables, and when it forwards on IFACE,
since it then forwards the MNs' packets a second time and those to the DAR's
link-local address, which it does not own -- unless ``--kernel``: then the
namespace forwards (fama-dar warns at start when IFACE does not), has an upstream
interface with a default route and the route ``PREFIX dev IFACE``; fama-dar puts its address on IFACE (/128, nodad),
creates the TUN ``fama-tun`` and routes each bound HoA into it, so the
kernel's packets for a HoA go through the tunnel to its CoA, and the
reverse-tunnelled packets of its MNs come out of it
(:mod:`scapy_fama.automata.kernel_path`). Where the kernel loads BPF lightweight
tunnels each such route carries the tunnel's program and the kernel encapsulates
(:mod:`scapy_fama.net.lwt`; the log's ``tunnel-entry`` record says which is used);
``--no-kernel-tunnel`` leaves it to the data plane.

In kernel mode the namespace needs the nftables table ``ip6 fama`` of
:mod:`scapy_fama.net.kernel`, without which the kernel answers the Mobility
Headers, Home Address options and IPv6-in-IPv6 it receives with ICMPv6 Parameter
Problems to the peers. Where it is missing the role installs it (the log's
``nft-table`` record says ``state=installed``) and removes it at exit; a table that
was there already stays (``present``, e.g. fama-lab's), and one installed by
another role is shared and goes with the last of them (``shared``): the ownership
rule is in :mod:`scapy_fama.net.kernel`. Without nft, or when the install fails,
the role runs on after one warning line on stderr (``state=missing`` in the log)
naming the consequence and the ``nft`` command that loads the table;
``--no-nft`` leaves nftables alone (``state=off``). A SIGTERM while the role
starts interrupts the start as SIGINT does (exit 130): the table goes as well.

The DAR answers an RS at once and sends multicast RAs at most every 30 ms, the floor RFC 6275
§7.5 allows a mobility router (profile §2 step 1, §9). ``--ra-delay S`` brings back RFC 4861
§6.2.6's random delay of a solicited RA (up to 0.5 s there) and ``--min-delay-between-ras S``
its spacing of multicast RAs (3 s there).

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
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

from scapy.arch import in6_getifaddr

from scapy_fama.automata import DarAutomaton, FamaAutomaton, LogSink
from scapy_fama.automata.warm import warm_up
from scapy_fama.cli.common import (
    EXIT_OK,
    MAX_LINK_DELAY_MS,
    Parser,
    attachment_delay,
    fifo_priority,
    interface,
    nonempty_path,
    nonempty_text,
    number_in,
    run,
    version,
    writable_file,
)
from scapy_fama.net.claim import claim
from scapy_fama.net.iface import require_root
from scapy_fama.net.kernel import NFT_COMMAND, nft_claim, nft_release
from scapy_fama.net.linkemu import LinkEmulation
from scapy_fama.proto import DarConfig, DarCore
from scapy_fama.proto.config import (
    MAX_RA_DELAY_TIME,
    MIN_DELAY_BETWEEN_RAS,
    MOBILE_MIN_DELAY_BETWEEN_RAS,
)

PROG = "fama-dar"


def node_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every role run on a real interface has."""
    ap.add_argument("--iface", required=True, type=nonempty_text, help="the interface of the access link")
    ap.add_argument("--name", type=nonempty_text, help="the node's name in log lines (default: the interface)")
    ap.add_argument("--log", type=nonempty_path, metavar="FILE", help="write the log lines here, not to stdout")
    ap.add_argument("--json-log", type=nonempty_path, metavar="FILE", help="also write each record as a JSON line")
    ap.add_argument(
        "--kernel",
        action="store_true",
        help="kernel mode: the kernel owns the addresses and carries the data, tunnels through a TUN",
    )
    ap.add_argument(
        "--no-nft",
        action="store_true",
        help="kernel mode: do not install the nftables table ip6 fama where it is missing (the kernel "
        "then answers Mobility Headers and IPv6-in-IPv6 with Parameter Problems, unless you stop them)",
    )
    ap.add_argument("--link-delay", type=number_in(0, MAX_LINK_DELAY_MS), default=0.0, metavar="MS",
                    help=f"emulated link delay, MS/2 each way (0 to {MAX_LINK_DELAY_MS:g})")
    ap.add_argument("--link-loss", type=number_in(0, 1), default=0.0, metavar="P",
                    help="emulated loss of each frame (0 to 1)")
    ap.add_argument("--link-seed", type=int, default=0, metavar="N", help="seed of the emulated loss (default 0)")
    ap.add_argument("--realtime", type=fifo_priority, metavar="PRIORITY",
                    help="run the signalling thread under SCHED_FIFO at PRIORITY (1-99; root or CAP_SYS_NICE): "
                    "it answers as soon as a packet wakes it, ahead of ordinary processes; the data plane and "
                    "the log keep the ordinary policy")  # fmt: skip


def emulation(args: argparse.Namespace) -> LinkEmulation | None:
    """The link emulation the options ask for, or None (a bad value is a ValueError)."""
    if args.link_delay == 0 and args.link_loss == 0:
        return None
    return LinkEmulation(args.link_delay, args.link_loss, args.link_seed)


def serve_node(prog: str, args: argparse.Namespace, build: Callable[[LogSink], FamaAutomaton]) -> int:
    """Check the interface and privileges and claim the interface (one role per interface:
    :mod:`scapy_fama.net.claim`), then run ``build(log)`` until SIGINT/SIGTERM, its
    signalling path warmed first (automata/warm.py: the first BU is then no slower than the next),
    in kernel mode with the nftables table of :func:`kernel_table`. SIGTERM before the node serves
    interrupts the start as SIGINT does, so that what it set up is undone."""
    for flag, out in (("--log", args.log), ("--json-log", args.json_log)):
        if out is not None:
            writable_file(flag, out)
    interface("--iface", args.iface)
    require_root()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # node.serve() then takes it over
    with claim(args.iface, prog):  # before the log files: a second role must not truncate the first's
        log = LogSink.open(args.log, args.json_log)
        try:
            with kernel_table(prog, args) as table:
                seconds = warm_up()
                node = build(log)
                log.write(node.name, "event", "warm-up", ms=round(seconds * 1e3, 3), started=round(log.started, 6))
                if table:
                    log.write(node.name, "event", "nft-table", **table)
                node.serve(realtime=args.realtime)
        finally:
            log.close()
    return EXIT_OK


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (and its nft child, which inherits
    that, is not cut short by a Ctrl-C to the terminal's process group)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@contextmanager
def kernel_table(prog: str, args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """In kernel mode, the nftables table ``ip6 fama`` for as long as the block runs: installed
    where it is missing and taken out again at the end, by the ownership rule of
    :mod:`scapy_fama.net.kernel` (the table a role installed goes with the last role using it; a
    table someone else installed stays as it is); the fields of the log's ``nft-table`` record
    (``{}`` outside kernel mode). Without the table the kernel answers what the role handles with
    Parameter Problems to the peers: when it cannot be installed the role runs on, after one
    warning line that says so and how to load it. ``--no-nft`` leaves nftables alone."""
    if not args.kernel:
        yield {}
        return
    if args.no_nft:
        yield {"state": "off", "why": "--no-nft"}
        return
    pid = os.getpid()
    fields: dict[str, str] = {}
    try:
        with _uninterrupted():  # a signal held meanwhile comes once fields is set
            fields = _claim(prog, pid)
        yield fields
    finally:
        if fields.get("state") in ("installed", "shared"):
            try:
                with _uninterrupted():
                    nft_release(pid)
            except OSError as exc:
                print(f"{prog}: warning: the nftables table ip6 fama may stay: {exc}", file=sys.stderr)


def _claim(prog: str, pid: int) -> dict[str, str]:
    """The table claimed for ``pid`` (net/kernel.py), or the warning that it is not there."""
    try:
        return {"state": nft_claim(pid)}
    except OSError as exc:
        print(
            f"{prog}: warning: cannot install the nftables table ip6 fama: {exc}; without it this node's "
            "kernel sends its peers ICMPv6 Parameter Problems for the Mobility Headers, Home Address options "
            f"and IPv6-in-IPv6 it receives: install nftables, or load the table in this namespace: {NFT_COMMAND}",
            file=sys.stderr,
        )
        return {"state": "missing", "why": str(exc)}


def _parsed(kind: Callable[[str], object], what: str, text: str) -> str:
    try:
        return str(kind(text))
    except ValueError as exc:
        raise ValueError(f"--{what} {text}: {exc}") from None


def _kernel_owns(iface: str, address: str) -> bool:
    """Whether the kernel holds ``address`` on ``iface`` (it then answers NS for it)."""
    return any(
        name == iface and IPv6Address(held) == IPv6Address(address)
        for held, _, name in in6_getifaddr()
    )


def _kernel_forwards(iface: str) -> bool:
    """Whether the kernel forwards IPv6 packets it receives on ``iface`` (net.ipv6.conf.IFACE.forwarding)."""
    try:
        return Path("/proc/sys/net/ipv6/conf", iface, "forwarding").read_text().strip() != "0"
    except OSError:
        return False


def config(args: argparse.Namespace) -> DarConfig:
    """The DAR's configuration the options ask for."""
    return DarConfig(require_coa_test=args.require_coa_test, ra_delay=args.ra_delay,
                     min_delay_between_ras=args.min_delay_between_ras)  # fmt: skip


def start_warnings(args: argparse.Namespace, address: str) -> list[str]:
    """What fama-dar says at start about the kernel of its namespace, a line each: without
    ``--kernel`` the kernel must neither own the DAR's address nor forward on IFACE (the DAR does
    both itself); with it, the kernel must forward, as the router it then is."""
    iface, forwards = args.iface, _kernel_forwards(args.iface)
    if args.kernel:
        return [] if forwards else [
            f"the kernel does not forward on {iface} (net.ipv6.conf.{iface}.forwarding=0): in kernel mode "
            "it routes the MNs' packets, their tunnels' and the BAs to other links, so none of them goes "
            "anywhere, and its NAs for the DAR's addresses say it is no router (R=0); set "
            "net.ipv6.conf.all.forwarding=1"
        ]  # fmt: skip
    found = []
    if _kernel_owns(iface, address):
        found.append(
            f"the kernel owns {address} on {iface}: it answers for that address and routes what the DAR "
            "sends by its own tables (BAs to CoAs it takes for on-link wait for answers nobody gives); "
            f"remove the address from {iface}, or run with --kernel"
        )
    if forwards:
        found.append(
            f"the kernel forwards on {iface} (net.ipv6.conf.{iface}.forwarding=1): it forwards the MNs' "
            "packets as the DAR does (each one twice) and what they send to the DAR's link-local address, "
            "with ICMPv6 Redirects and Address Unreachables; set it to 0 and route through a router on "
            "the link, or run with --kernel"
        )
    return found


def _serve(args: argparse.Namespace) -> int:
    core = DarCore(
        _parsed(IPv6Address, "address", args.address),
        _parsed(IPv6Network, "prefix", args.prefix),
        config=config(args),
        rand=os.urandom,
    )
    for line in start_warnings(args, core.address):
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    name = args.name or args.iface
    link = emulation(args)
    return serve_node(
        PROG,
        args,
        lambda log: DarAutomaton(
            core, iface=args.iface, name=name, log=log, kernel=args.kernel, emulation=link,
            kernel_tunnel=not args.no_kernel_tunnel, untracked_na=args.accept_untracked_na,
        ),
    )


def parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog=PROG,
        description="Run a FAMA Distributed Anchor Router on a real interface (needs root).",
    )
    node_arguments(ap)
    ap.add_argument("--prefix", required=True, type=nonempty_text, help="the /64 to advertise, e.g. 2001:db8:1::/64")
    ap.add_argument("--address", required=True, type=nonempty_text, help="the DAR's address in it, e.g. 2001:db8:1::1")
    ap.add_argument(
        "--accept-untracked-na",
        action="store_true",
        help="RFC 9131: take an unsolicited NA for an address of the prefix as its neighbour entry (fama-mn "
        "announces each new CoA so): BAs and first packets to a new CoA leave without an NS first; any node "
        "on the link can then claim an address the DAR has no entry for",
    )
    ap.add_argument(
        "--require-coa-test",
        action="store_true",
        help="secure mode: a BU needs a care-of token from CoTI/CoT first (profile §5)",
    )
    attachment_delay(ap, "--ra-delay", "answer an RS", f"RFC 4861 §6.2.6: {MAX_RA_DELAY_TIME:g}")
    ap.add_argument(
        "--min-delay-between-ras",
        type=number_in(0.001, 3600),
        default=MOBILE_MIN_DELAY_BETWEEN_RAS,
        metavar="S",
        help=f"multicast RAs at most every S seconds (RFC 4861 §6.2.6: {MIN_DELAY_BETWEEN_RAS:g}; default "
        f"{MOBILE_MIN_DELAY_BETWEEN_RAS:g}, RFC 6275 §7.5's floor for a mobility router)",
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
