"""Kernel mode's data path: the kernel carries the data, the automaton carries the tunnel's bytes.

Theory of operation
-------------------
In kernel mode real sockets use the FAMA addresses: the kernel owns them,
routes and forwards, and the automaton adds what a kernel without ip6tnl and
mip6 cannot do, the IPv6-in-IPv6 tunnel of each binding (RFC 2473, profile §8),
through a TUN device (:class:`scapy_fama.net.kernel.Tun`). The cores still
decide every binding (TunnelUp / TunnelDown, the automaton's ``tunnels``);
this module turns them into kernel state and carries the bytes::

    DAR_i  CN -> HoA_i   kernel forwards: route HoA_i/128 dev fama-tun -> TUN -> encapsulate
                         (outer DAR_i -> CoA, Next Header 41, hop limit 64) -> KernelUpstream -> CoA
           CoA -> DAR_i  KernelUpstream / access port -> decapsulate (the outer source must be
                         the registered CoA of the inner source) -> TUN -> kernel forwards it on
    MN     HoA_i -> CN   socket bound to HoA_i -> rule "from HoA_i lookup 100" -> default dev
                         fama-tun -> TUN -> encapsulate (outer CoA -> DAR_i) -> access port
           DAR_i -> CoA  access port -> decapsulate (the outer source must be the DAR of the
                         inner destination) -> TUN -> kernel delivers it to the socket

Everything else the kernel sends and receives itself (the MN's native traffic
from its current address is never tunnelled, profile §8); the automaton only
takes the signalling (Mobility Headers, RS, RA; :func:`signalling`) and
forwards nothing. The inner packet keeps the hop limit it has: the DAR's kernel
already took one off when it forwarded it into the TUN (RFC 2473 §3.1), an
MN's own packets have all theirs.

Kernel state, made to match the automaton's after every event (``sync``) and
removed on close:

* DAR: its address on the access interface as a /128 (the lab routes the
  prefix there), and a route ``HoA/128 dev fama-tun`` per tunnel.
* MN: the current address, once DAD is over, as a /64 on the access interface
  (the prefix on-link) with a default route via the router of its RA; a kept
  address as a /128 on the TUN (off the access link, but still the kernel's,
  so the sockets bound to it live on) with a rule ``from HoA lookup 100``,
  table 100 holding ``default dev fama-tun``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from scapy_fama.net.kernel import TUN_NAME, Tun, ip
from scapy_fama.proto.effects import TunnelUp
from scapy_fama.wire import WireInfo
from scapy_fama.wire.numbers import ICMPV6, IPV6_IN_IPV6, RA, RS
from scapy_fama.wire.read import addr
from scapy_fama.wire.write import ipv6

OUTER_HLIM = 64  # RFC 2473 §3.1: the tunnel entry point's default hop limit; profile §8
TABLE = "100"  # the MN's routing table of kept addresses
RULE_PRIORITY = "100"
_ADDRESS_AT = {"src": 8, "dst": 24}  # where the IPv6 header holds each address


@dataclass(frozen=True)
class Side:
    """Which inner address is the HoA: of a packet going into the tunnel, and of one coming out."""

    into: str
    out_of: str


DAR = Side(into="dst", out_of="src")  # a DAR tunnels what is for a HoA, takes back what is from it
MN = Side(into="src", out_of="dst")


def encapsulate(inner: bytes, tunnels: Mapping[str, TunnelUp], side: Side) -> bytes | None:
    """``inner`` in the IPv6 header of its HoA's tunnel (RFC 2473 §3, profile §8); None: no tunnel."""
    if len(inner) < 40:
        return None
    tunnel = tunnels.get(addr(inner, _ADDRESS_AT[side.into]))
    if tunnel is None:
        return None
    return ipv6(tunnel.local, tunnel.remote, IPV6_IN_IPV6, inner, OUTER_HLIM)


def decapsulate(
    outer: bytes, info: WireInfo, tunnels: Mapping[str, TunnelUp], side: Side
) -> tuple[bytes | None, str]:
    """The inner packet of ``outer`` (read as ``info``), or None and why it is refused.

    Only a tunnel that stands takes a packet, and only from its far end: a
    DAR decapsulates a packet from HoA_i only if the outer source is the CoA
    registered for HoA_i, an MN one for HoA_i only if it comes from HoA_i's
    DAR (RFC 6275 §10.4.5 and §11.3.1, profile §8)."""
    if info.proto != IPV6_IN_IPV6 or info.upper is None or info.end - info.upper < 40:
        return None, "not-ipv6-in-ipv6"
    inner = outer[info.upper : info.end]
    hoa = addr(inner, _ADDRESS_AT[side.out_of])
    tunnel = tunnels.get(hoa)
    if tunnel is None:
        return None, f"no-tunnel: none carries {hoa}"
    if (info.src, info.dst) != (tunnel.remote, tunnel.local):
        return None, f"spoofed-tunnel: {info.src} -> {info.dst} is not the tunnel of {hoa}"
    return inner, ""


def signalling(raw: bytes, info: WireInfo) -> bool:
    """Whether the automaton handles this packet in kernel mode (all else is the kernel's)."""
    if info.mh is not None:
        return True
    return info.proto == ICMPV6 and info.upper is not None and info.upper < len(raw) and raw[info.upper] in (RS, RA)


class KernelPath:
    """The TUN device of one role and the kernel state it keeps; see the module's docstring."""

    def __init__(self, iface: str, side: Side) -> None:
        self.iface = iface
        self.side = side
        self.tun = Tun(iface)
        self.counts: Counter[str] = Counter()  # encapsulated, decapsulated
        self.closed = False

    def into(self, data: bytes, tunnels: Mapping[str, TunnelUp]) -> bytes | None:
        """A packet the kernel routed into the TUN, encapsulated; None: it has no tunnel."""
        packet = encapsulate(data, tunnels, self.side)
        if packet is not None:
            self.counts["encapsulated"] += 1
        return packet

    def out_of(self, outer: bytes, info: WireInfo, tunnels: Mapping[str, TunnelUp]) -> str:
        """Hand the inner packet of ``outer`` to the kernel; "" when done, else why not."""
        inner, why = decapsulate(outer, info, tunnels, self.side)
        if inner is not None:
            self.tun.write(inner)
            self.counts["decapsulated"] += 1
        return why

    def close(self) -> None:
        """Take this role's state out of the kernel, the TUN last (once; later calls do nothing)."""
        if not self.closed:
            self.closed = True
            try:
                self._remove()
            finally:
                self.tun.close()

    def _remove(self) -> None:
        raise NotImplementedError


class DarKernel(KernelPath):
    """A DAR's kernel state: its address on the access interface, a route per tunnel."""

    def __init__(self, iface: str, address: str) -> None:
        super().__init__(iface, DAR)
        self.address = address
        self.routes: set[str] = set()
        ip("addr", "replace", f"{address}/128", "dev", iface, "nodad")

    def sync(self, hoas: set[str]) -> None:
        for hoa in hoas - self.routes:  # RFC 6275 §10.4.1: the HoA's traffic goes into its tunnel
            ip("route", "replace", f"{hoa}/128", "dev", TUN_NAME)
        for hoa in self.routes - hoas:
            ip("route", "del", f"{hoa}/128", "dev", TUN_NAME)
        self.routes = set(hoas)

    def _remove(self) -> None:
        self.sync(set())
        ip("addr", "del", f"{self.address}/128", "dev", self.iface)


class MnKernel(KernelPath):
    """An MN's kernel state: the current address on the link, the kept ones on the TUN."""

    def __init__(self, iface: str) -> None:
        super().__init__(iface, MN)
        self.native: str | None = None
        self.gateway: str | None = None
        self.kept: set[str] = set()
        ip("route", "replace", "default", "dev", TUN_NAME, "table", TABLE)

    def sync(self, native: str | None, gateway: str | None, kept: set[str]) -> None:
        """Make the kernel hold ``native`` on the link (via ``gateway``) and ``kept`` on the TUN.

        An address moving between the two is added before it is removed, so the
        kernel never loses it and the sockets bound to it stay."""
        if native is not None and native != self.native:
            ip("addr", "replace", f"{native}/64", "dev", self.iface, "nodad")
        for address in kept - self.kept:
            ip("addr", "replace", f"{address}/128", "dev", TUN_NAME, "nodad")
            ip("rule", "add", "from", address, "lookup", TABLE, "priority", RULE_PRIORITY)
        if self.native is not None and self.native != native:
            ip("addr", "del", f"{self.native}/64", "dev", self.iface)
        for address in self.kept - kept:
            self._unkeep(address)
        if native is not None and gateway is not None and (native, gateway) != (self.native, self.gateway):
            ip("neigh", "flush", "dev", self.iface)  # a new link: the old one's neighbours are gone
            ip("route", "replace", "default", "via", gateway, "dev", self.iface)
        self.native, self.gateway, self.kept = native, gateway, set(kept)

    def _unkeep(self, address: str) -> None:
        ip("rule", "del", "from", address, "lookup", TABLE, "priority", RULE_PRIORITY)
        ip("addr", "del", f"{address}/128", "dev", TUN_NAME)

    def _remove(self) -> None:
        if self.gateway is not None:
            ip("route", "del", "default", "via", self.gateway, "dev", self.iface)
        self.sync(None, None, set())
