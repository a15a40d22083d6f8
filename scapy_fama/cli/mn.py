"""fama-mn: run a FAMA mobile node on a real interface (root).

    fama-mn --iface eth0 [--key mn.pem] [--keep flows|all|none|single-anchor] [--sec 0|1]
            [--coa-test] [--no-optimistic] [--rs-delay S] [--udp-echo [PORT]] [--kernel [--no-nft]] [--link-delay MS] [--link-loss P] [--link-seed N]
            [--exit-wait S | --keep-bindings-at-exit] [--log FILE] [--json-log FILE] [--name mn]

The MN solicits an RA whenever its interface comes up (or is moved to another
link), builds a CGA from the advertised prefix, runs DAD, and registers the
addresses it keeps at their DARs. With ``--key`` the RSA key is loaded from
FILE, or created there; without, a fresh one is used. Logging, stopping and
errors as fama-dar. The interface should not autoconfigure from the DAR's RAs
(``sysctl net.ipv6.conf.IF.accept_ra=0``): the kernel must not own the MN's
addresses (see :mod:`scapy_fama.net.iface`) -- unless ``--kernel``: then fama-mn puts
its current address on the interface as a /64 (optimistic while DAD runs, RFC 4429; it
turns on the kernel's optimistic DAD on the interface for that) with a default
route via the DAR's link-local address from the RA, and after a move keeps
each earlier address in the kernel, on the TUN ``fama-tun`` with a rule that
sends its packets into the tunnel to its DAR, so sockets bound to it live on
(:mod:`scapy_fama.automata.kernel_path`); it all goes on exit. ``--keep`` is then
``all`` unless given; ``flows`` is refused, as is ``--udp-echo``. The namespace
needs ``accept_ra=0``, forwarding off and the nftables table ``ip6 fama``: fama-mn
installs it where it is missing and removes it at exit as fama-dar does (see there,
and ``--no-nft``).
``--link-delay``, ``--link-loss`` and ``--link-seed`` as fama-dar.

``--coa-test`` runs the care-of test (CoTI/CoT) before every BU to a DAR, as a
DAR in secure mode requires (profile §5, fama-dar ``--require-coa-test``): a
handover then costs two round trips to each DAR. Without it the MN learns that
per DAR, from the BA 137 that refuses its first BU there, a round trip more.

The profile attaches faster than the RFCs (profile §2, §9): the RS leaves at once on
link-up and a new address is used at once, as an Optimistic Address (RFC 4429), while DAD
runs. ``--rs-delay S`` brings back RFC 4861 §6.3.7's random wait before the first RS (up
to 1 s there) and ``--no-optimistic`` RFC 4862's: the address is used, and the BUs leave
from it, only once DAD is over (1 s).

At SIGINT or SIGTERM the MN de-registers, before it stops, every binding it holds
at a DAR (a BU with lifetime 0 from the CoA, PHKT-authorised: profile §3, §4), so
that no DAR tunnels its addresses' traffic to a CoA nobody holds until the binding's
lifetime (up to a day) ends, and waits for the BAs at most ``--exit-wait`` seconds
(default 1; 0 sends them and waits for none). Each binding whose BA did not come is
one ``deregistration-abandoned`` record in the log, and ``shutdown-done`` counts them
all; a second SIGINT or SIGTERM ends the wait at once. ``--keep-bindings-at-exit``
stops at once as before and leaves the bindings to their lifetimes (a restart that
should find them, a test of a DAR's expiry).

``--udp-echo [PORT]`` runs the UDP Echo service (RFC 862) on PORT (7 when no
PORT is given) on every address of the MN: a datagram to it comes back with
the same payload from the address it was sent to, reverse-tunnelled for a kept
address and natively for the current one (profile §8). This is how a tester
(``fama-conformance --role mn --mn-echo PORT``) makes the MN send data.
"""

from __future__ import annotations

import argparse
import os
import sys

from scapy_fama.automata import MnAutomaton
from scapy_fama.automata.mn import EXIT_WITHIN
from scapy_fama.cli.cga import _key
from scapy_fama.cli.common import Parser, attachment_delay, nonempty_path, number_in, rich_console, run, udp_port, version
from scapy_fama.cli.dar import emulation, node_arguments, serve_node
from scapy_fama.proto import KeepPolicy, MnConfig, MnCore
from scapy_fama.proto.config import MAX_RTR_SOLICITATION_DELAY

PROG = "fama-mn"
ECHO_PORT = 7  # RFC 862: the UDP Echo service's port
MAX_EXIT_WAIT = 60.0  # seconds: an exit slower than a minute only looks like a hang


def config(args: argparse.Namespace) -> MnConfig:
    """The MN's configuration the options ask for; ``--keep`` is ``all`` by default in kernel
    mode, where ``flows`` sees no socket and, after a move, dropped the address of every
    connection still open (``flows`` elsewhere)."""
    keep = args.keep or (KeepPolicy.ALL if args.kernel else KeepPolicy.FLOWS).value
    return MnConfig(keep=KeepPolicy(keep), sec=args.sec, coa_test=args.coa_test,
                    optimistic=not args.no_optimistic, rs_delay=args.rs_delay)  # fmt: skip


def _serve(args: argparse.Namespace) -> int:
    key = _key(args.key, 1024, rich_console(stderr=True))
    core = MnCore(key, config=config(args), rand=os.urandom)
    name = args.name or args.iface
    link = emulation(args)
    return serve_node(
        PROG,
        args,
        lambda log: MnAutomaton(
            core,
            iface=args.iface,
            name=name,
            log=log,
            udp_echo=args.udp_echo,
            kernel=args.kernel,
            emulation=link,
            exit_within=None if args.keep_bindings_at_exit else args.exit_wait,
        ),
    )


def parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog=PROG, description="Run a FAMA mobile node on a real interface (needs root)."
    )
    node_arguments(ap)
    ap.add_argument("--key", type=nonempty_path, help="RSA key (PEM): loaded if it exists, else created there")
    ap.add_argument(
        "--keep",
        choices=[p.value for p in KeepPolicy],
        help="which earlier addresses stay anchored after a handover (profile §3; default flows, "
        "all with --kernel)",
    )
    ap.add_argument("--sec", type=int, choices=(0, 1), default=1, help="CGA Sec value (default 1)")
    ap.add_argument(
        "--coa-test",
        action="store_true",
        help="CoTI/CoT before every BU, for DARs in secure mode (profile §5); "
        "default: learnt per DAR from its first BA 137",
    )
    ap.add_argument(
        "--no-optimistic",
        action="store_true",
        help="use a new address only once DAD is over (1 s, RFC 4862), not at once as an Optimistic "
        "Address (RFC 4429, profile §2 step 3)",
    )
    attachment_delay(ap, "--rs-delay", "send the first RS on link-up",
                     f"RFC 4861 §6.3.7: {MAX_RTR_SOLICITATION_DELAY:g}")  # fmt: skip
    ap.add_argument(
        "--udp-echo",
        type=udp_port,
        nargs="?",
        const=ECHO_PORT,
        metavar="PORT",
        help=f"answer UDP Echo (RFC 862) on PORT ({ECHO_PORT} if none given; default off)",
    )
    leaving = ap.add_mutually_exclusive_group()
    leaving.add_argument(
        "--exit-wait",
        type=number_in(0, MAX_EXIT_WAIT),
        default=EXIT_WITHIN,
        metavar="S",
        help=f"at exit, wait this long for the BAs of the de-registrations (0 to {MAX_EXIT_WAIT:g}; "
        f"default {EXIT_WITHIN:g}; a second Ctrl-C ends the wait)",
    )
    leaving.add_argument(
        "--keep-bindings-at-exit",
        action="store_true",
        help="exit without de-registering the bindings at the DARs (they last until their lifetimes end)",
    )
    return version(ap)


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if args.kernel and args.udp_echo is not None:
        ap.error("--udp-echo does not combine with --kernel (the kernel owns the addresses: run an echo server on them)")
    if args.kernel and args.keep == KeepPolicy.FLOWS.value:
        ap.error("--keep flows does not combine with --kernel (it sees no kernel socket): use --keep all")
    return run(PROG, lambda: _serve(args))


if __name__ == "__main__":
    sys.exit(main())
