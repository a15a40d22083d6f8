"""iproute2 for the lab: namespaces, veth pairs, bridges, addresses, routes, sysctls.

Theory of operation
-------------------
Every change is one ``ip`` (or ``sysctl`` inside ``ip netns exec``) command;
a failing command raises :class:`LabError` with the command and the tool's
own message on one line. The veth pairs are created straight into their two
namespaces (``ip link add A netns X type veth peer name B netns Y``), so the
root namespace never holds a lab link, not even for a moment, and deleting a
namespace deletes its links::

    build(topology):  ip netns add fama-lab-*  ->  veths  ->  bridges  ->  sysctls  ->  addresses, routes
    handover(dar):    ip -n fama-lab-sw link set fama-sw-mn down / master fama-brI / up (up also
                      when interrupted: never a port left down)

Lab namespaces are found by name (``ip netns list``), their processes with
``ip netns pids``: that is all ``down`` needs after a crash.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from scapy_fama.lab.topology import (
    CN_ADDRESS,
    CN_MTU,
    CORE_CN_ADDRESS,
    MN_IFACE,
    MN_PORT,
    NAMESPACE_PREFIX,
    Topology,
    access_iface,
    bridge,
    core_iface,
    dar_prefix,
    namespace,
    switch_port,
    upstream_address,
    upstream_iface,
)


class LabError(OSError):
    """A lab command failed, or the lab is not in the state a command needs."""


def run(*argv: str) -> str:
    """Run a command; its stdout, or :class:`LabError` with its stderr."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{argv[0]}: {exc}") from None
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise LabError(f"{' '.join(argv)}: {why[0]}")
    return done.stdout


def ip(ns: str, *argv: str) -> str:
    return run("ip", "-n", ns, *argv)


def interfaces(ns: str) -> list[str]:
    """The names of namespace ``ns``'s network interfaces (a veth's without its ``@peer``)."""
    return [line.split(": ")[1].split("@")[0] for line in ip(ns, "-o", "link", "show").splitlines()]


@contextmanager
def owned(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """``process`` killed and reaped when the block does not complete (an error, a Ctrl-C while
    waiting for it to start): the caller never got it to stop."""
    try:
        yield process
    except BaseException:
        process.kill()
        process.wait()
        raise


def in_namespace(ns: str, argv: list[str]) -> list[str]:
    """``argv`` run inside namespace ``ns``."""
    return ["ip", "netns", "exec", ns, *argv]


def sysctl(ns: str, *settings: str) -> None:
    run(*in_namespace(ns, ["sysctl", "-qw", *settings]))


def lab_namespaces() -> list[str]:
    """The namespaces named ``fama-lab-*`` that exist now."""
    names = (line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip())
    return [name for name in names if name.startswith(NAMESPACE_PREFIX)]


def namespace_pids(ns: str) -> list[int]:
    try:
        return [int(pid) for pid in run("ip", "netns", "pids", ns).split()]
    except LabError:
        return []  # the namespace went away meanwhile


def delete_namespace(ns: str) -> None:
    run("ip", "netns", "del", ns)


def _namespaces(topology: Topology) -> None:
    """The namespaces, where no interface takes router advertisements or runs the kernel's DAD
    (a lab address is unique by plan, and a tentative link-local would hold up the first packets);
    fama-mn --kernel turns optimistic DAD on for its own addresses (automata/kernel_path.py)."""
    for ns in topology.namespaces:
        run("ip", "netns", "add", ns)
        for scope in ("all", "default"):
            sysctl(ns, f"net.ipv6.conf.{scope}.accept_ra=0", f"net.ipv6.conf.{scope}.accept_dad=0")
        ip(ns, "link", "set", "lo", "up")


def _forwarding(topology: Topology) -> None:
    """IPv6 forwarding in the core and the DARs only."""
    for node in ["core", *(f"dar{i}" for i in topology.dar_numbers)]:
        sysctl(namespace(node), "net.ipv6.conf.all.forwarding=1")
    sysctl(namespace("mn"), "net.ipv6.conf.all.forwarding=0")


def _address(ns: str, iface: str, address: str) -> None:
    ip(ns, "-6", "addr", "add", address, "dev", iface, "nodad")


def _route(ns: str, *argv: str) -> None:
    ip(ns, "-6", "route", "add", *argv)


def build(topology: Topology) -> None:
    """Create the whole topology (namespaces must not exist yet)."""
    _namespaces(topology)
    for pair in topology.veths():
        run("ip", "link", "add", pair.a, "netns", pair.ns_a, "type", "veth",
            "peer", "name", pair.b, "netns", pair.ns_b)  # fmt: skip
    _forwarding(topology)
    sw, core, cn = namespace("sw"), namespace("core"), namespace("cn")
    for i in topology.dar_numbers:
        ip(sw, "link", "add", bridge(i), "type", "bridge", "mcast_snooping", "0", "forward_delay", "0")
        ip(sw, "link", "set", bridge(i), "up")
        ip(sw, "link", "set", switch_port(f"d{i}"), "master", bridge(i), "up")
    ip(sw, "link", "set", MN_PORT, "master", bridge(1), "up")
    ip(cn, "link", "set", "fama-cn", "mtu", str(CN_MTU), "up")
    _address(cn, "fama-cn", f"{CN_ADDRESS}/64")
    _route(cn, "default", "via", CORE_CN_ADDRESS)
    ip(core, "link", "set", "fama-core-cn", "up")
    _address(core, "fama-core-cn", f"{CORE_CN_ADDRESS}/64")
    for i in topology.dar_numbers:
        dar = namespace(f"dar{i}")
        ip(core, "link", "set", core_iface(i), "up")
        _address(core, core_iface(i), f"{upstream_address(i, dar_side=False)}/64")
        _route(core, dar_prefix(i), "via", upstream_address(i, dar_side=True))
        ip(dar, "link", "set", upstream_iface(i), "up")
        _address(dar, upstream_iface(i), f"{upstream_address(i, dar_side=True)}/64")
        _route(dar, "default", "via", upstream_address(i, dar_side=False))
        ip(dar, "link", "set", access_iface(i), "up")
        _route(dar, dar_prefix(i), "dev", access_iface(i))
    ip(namespace("mn"), "link", "set", MN_IFACE, "up")


def attached_bridge() -> str | None:
    """The bridge the MN's port is a member of now, or None."""
    try:
        shown = ip(namespace("sw"), "-o", "link", "show", MN_PORT)
    except LabError:
        return None
    words = shown.split()
    return words[words.index("master") + 1] if "master" in words else None


def move_mn(to_bridge: str, settle: float = 0.05) -> float:
    """Move the MN's port to ``to_bridge``: carrier down, new master, carrier up. The
    wall-clock time (``time.time()``) just after the carrier went down."""
    sw = namespace("sw")
    try:  # from the carrier going down: a Ctrl-C may land while ``ip`` still runs
        ip(sw, "link", "set", MN_PORT, "down")
        down = time.time()
        ip(sw, "link", "set", MN_PORT, "master", to_bridge)
        time.sleep(settle)  # the MN's driver sees the carrier go before it comes back
    finally:  # a Ctrl-C here left the MN's port down: the MN cut off until the next handover
        ip(sw, "link", "set", MN_PORT, "up")
    return down
