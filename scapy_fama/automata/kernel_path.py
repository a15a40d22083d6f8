"""Kernel mode's path: the kernel carries the data, the role keeps the kernel's state and the tunnels.

Theory of operation
-------------------
In kernel mode real sockets use the FAMA addresses: the kernel owns them,
routes and forwards, and the role adds what a kernel without ip6tnl and mip6
cannot do, the IPv6-in-IPv6 tunnel of each binding (RFC 2473, profile §8),
through a TUN device (:class:`scapy_fama.net.kernel.Tun`) and a data plane of
its own (:mod:`scapy_fama.automata.dataplane`). The cores still decide every
binding (TunnelUp / TunnelDown, the automaton's ``tunnels``); this module turns
them into kernel state and hands the data plane its tunnels::

    DAR_i  CN -> HoA_i   kernel forwards: route HoA_i/128 dev fama-tun encap bpf xmit, whose
                         program (net/lwt.py) encapsulates (outer DAR_i -> CoA, Next Header 41,
                         hop limit 64) -> CoA; without BPF lightweight tunnels the route leads
                         into the TUN -> data plane: encapsulate the same way -> CoA
           CoA -> DAR_i  packet socket -> data plane: decapsulate (the outer source must be
                         the registered CoA of the inner source) -> TUN -> kernel forwards it on
    MN     HoA_i -> CN   socket bound to HoA_i -> rule "from HoA_i lookup 100" -> default dev
                         fama-tun -> TUN -> data plane: encapsulate (outer CoA -> DAR_i) -> DAR_i
           DAR_i -> CoA  packet socket -> data plane: decapsulate (the outer source must be the
                         DAR of the inner destination) -> TUN -> kernel delivers it to the socket

Everything else the kernel sends and receives itself (the MN's native traffic
from its current address is never tunnelled, profile §8), and it answers the
Neighbour Solicitations for the addresses it holds on the access link
(``answers``): the automaton then does not, which sent a second NA for each NS
(RFC 4861 §7.2.4), to a unicast NS one that disagreed with the kernel's (O=1 and a
TLLA, where Linux leaves the TLLA out and clears O). The automaton only
takes the signalling (Mobility Headers, RS, RA; :func:`signalling`) and
forwards only the signalling the kernel routed into a DAR's TUN (the data plane
hands it over, ``handoff``: it is routed in order with the de-registrations
before it). The inner packet keeps the hop limit it has: the DAR's kernel
already took one off when it forwarded it into the TUN (RFC 2473 §3.1), an
MN's own packets have all theirs.

Kernel state, made to match the automaton's after every event (``sync``, by
rtnetlink messages: microseconds, where an ``ip`` command took milliseconds in
the automaton's thread) and removed on close; the data plane gets the new
tunnels once the routes follow them. A DAR syncs in the automaton's thread, after
its BA has left; an MN posts the state (``follow``) to a thread of its own
(:mod:`scapy_fama.automata.follower`), since the RTM_NEWADDR of a move's new CoA
takes milliseconds of waiting, in which the BAs for the move's BUs arrive:

* DAR: its address on the access interface as a /128 (the lab routes the
  prefix there) and its link-local address (fe80:: and the same interface
  identifier, the source of its RAs and NSs) as a /64 unless the interface has it
  already (then it stays at close): what the MNs send to the
  link-local (an NA answering the DAR's NS, a NUD probe, a ping) is then the
  kernel's own, where it took it for another node's, forwarded it back onto the
  link, solicited the address three times and sent the MN an Address Unreachable
  3 s later. A route ``HoA/128 dev fama-tun`` per tunnel, carrying the
  tunnel's program (one per binding: a new CoA replaces the route; the log's
  ``tunnel-entry`` record says whether the kernel or the data plane encapsulates).
  With ``untracked_na`` (``fama-dar --accept-untracked-na``) the interface's
  ``accept_untracked_na`` is on while the role runs: the kernel learns a new CoA's
  MAC from the MN's unsolicited NA (RFC 9131, see automata/nd.py), so the BAs of
  other DARs and the first packets it forwards to the CoA do not wait for an NS
  (the log's ``untracked-na`` record says whether the kernel took the setting).
* MN: its data plane reads with a virtio_net_hdr (a raw packet socket) and writes
  the inner packet with one into the TUN, so the kernel's super-packets and partial
  checksums stay as they are (net/vnet.py). The socket is bound to the access
  interface's index; at every attachment it is bound again if the interface of that
  name has another one (deleted and created anew: a NIC replugged, a veth re-created),
  else it would take nothing from the new interface and the kept addresses would
  receive nothing more. The same socket, its program and header kept;
  ``dataplane-rebound`` in the log. An attachment while the interface is absent is
  one error line, and the next event tries again.
* MN: the current address, once usable (at once when optimistic, RFC 4429), as
  a /64 on the access interface (the prefix on-link) with a default route via
  the router of its RA; a kept address as a /128 on the TUN (off the access
  link, but still the kernel's, so the sockets bound to it live on) with a rule
  ``from HoA lookup 100``, table 100 holding ``default dev fama-tun``.
* MN: an optimistic current address goes in as optimistic, not ``nodad`` (the
  kernel refuses both): with ``nodad`` the kernel took it for preferred and
  answered an NS for it with O=1, against RFC 4429 §3.3, and resolved its router
  from it with an SLLAO. Optimistic, the kernel keeps §3.3 itself (O=0, its NS
  from the link-local address) and uses it at once (``use_optimistic``). It runs
  DAD of its own on it (one probe more on the link: the interface's
  ``accept_dad``, ``optimistic_dad``, ``use_optimistic`` and ``dad_transmits=1``
  are set at start and restored on close) and ends it a few milliseconds after
  the core's: a duplicate it alone saw in between (the core ignores one after its
  DAD) is overruled, the address put back without DAD (``kernel-dad-overruled``
  in the log). A duplicate seen while the core's DAD runs fails both, and the core's
  new address replaces the failed one.
* MN: its link-local address is never under DAD (the interface's ``addr_gen_mode``
  is ``none``, restored on close, and the role adds the address the interface had,
  with ``nodad``, at every attachment). With ``optimistic_dad`` on, an
  administrative down/up (NetworkManager, a user; not a carrier flap, which keeps
  the addresses) has the kernel drop every address and create the link-local anew,
  optimistic; and Linux sends no NS while its only link-local is tentative or
  optimistic and the packet's source (the optimistic CoA) is one too
  (``ndisc_solicit``, ``ipv6_get_lladdr``): the first packets to the router waited
  for that DAD. Measured in a scratch namespace (kernel 6.18, one UDP datagram via
  fe80::1): the NS left 1.26 s after the up, against at once with a ``nodad``
  link-local, the CoA still optimistic. The setting must be ``none``, not a fix-up
  after the kernel made its address: it makes it when the link is ready, which on a
  NIC can be after the role saw the carrier and attached. Linux does not run DAD
  again on the link-local after a carrier flap (a move) either. The settings are
  written again at every attachment, for an interface deleted and created anew (it
  starts from ``default``), and an address the kernel dropped on the way down is
  taken for removed. So is the data plane's socket bound again (above).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections import Counter
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass

from scapy.data import ETH_P_IPV6
from scapy.utils6 import in6_mactoifaceid

from scapy_fama.automata.dataplane import DAR, MN, DataPlane, Log, Side, TunnelTable
from scapy_fama.automata.follower import Follower
from scapy_fama.automata.ports import Handoff
from scapy_fama.net import bpf, lwt
from scapy_fama.net.iface import receive_buffer
from scapy_fama.net.kernel import TUN_NAME, Tun, ipv6_conf, mac, mtu
from scapy_fama.net.linkemu import LinkEmulation
from scapy_fama.net.rtnetlink import IFA_F_DADFAILED, IFA_F_TENTATIVE, Rtnl
from scapy_fama.net.vnet import PACKET_VNET_HDR
from scapy_fama.proto.effects import TunnelUp
from scapy_fama.wire import WireInfo
from scapy_fama.wire.numbers import ETHER_HEADER, ICMPV6, RA, RS

TABLE = 100  # the MN's routing table of kept addresses
RULE_PRIORITY = 100
SOL_PACKET = 263  # linux/socket.h
ON_LINK, HOST = 64, 128  # prefix lengths: the MN's current address, a kept address or a DAR's
# The MN's access interface: the kernel runs DAD (one probe) on an address added as optimistic,
# with RFC 4429's rules meanwhile, and may choose it as a source (profile §2 step 3: data at once)
OPTIMISTIC_DAD = {"accept_dad": 1, "optimistic_dad": 1, "use_optimistic": 1, "dad_transmits": 1}
# ... and the kernel makes no link-local address there (IN6_ADDR_GEN_MODE_NONE, linux/if_link.h): the
# role adds its own without DAD. Last, so that on close the kernel makes one with the settings restored
ACCESS_CONF = {**OPTIMISTIC_DAD, "addr_gen_mode": 1}
# The DAR's access interface: the kernel takes an MN's unsolicited NA for a new address as a STALE
# neighbour entry (RFC 9131 §4.2, Linux 5.19 on), so that what it forwards to the new CoA leaves
# without an NS first. From any source: the DAR's own address there is a /128, and the "same
# subnet" setting (2) looks for the NA's source in the prefixes of the interface's addresses
UNTRACKED_NA = {"accept_untracked_na": 1}


def signalling(raw: bytes, info: WireInfo) -> bool:
    """Whether the automaton handles this packet in kernel mode (all else is the kernel's)."""
    if info.mh is not None:
        return True
    return info.proto == ICMPV6 and info.upper is not None and info.upper < len(raw) and raw[info.upper] in (RS, RA)


class KernelPath:
    """The TUN device of one role, its data plane and the kernel state it keeps."""

    link: int | None = None  # the receiver's link header (a raw socket with virtio_net_hdr), or cooked
    handoff: Handoff | None = None  # where the data plane hands the automaton what it must route

    def __init__(self, iface: str, side: Side) -> None:
        self.iface = iface
        self.side = side
        self.rtnl = Rtnl()
        self.tun = Tun(iface)
        self.dataplane: DataPlane | None = None
        self.closed = False
        self._log: Log = lambda *_, **__: None  # the node's log, once started
        self._published: dict[str, TunnelUp] = {}

    def _receiver(self) -> socket.socket:
        """The data plane's packet socket (IPv6 without a link header), with its BPF program."""
        raise NotImplementedError

    def _table(self, tunnels: Mapping[str, TunnelUp]) -> TunnelTable:
        return TunnelTable(tunnels, self.side, before=self._published)

    def start(self, log: Log, emulation: LinkEmulation | None = None) -> None:
        """Start the data plane (``log`` writes one of the node's records)."""
        self._log = log
        receiver = self._receiver()
        try:
            self.dataplane = DataPlane(
                self.tun.fd, receiver, self._table({}), log, mtu(self.iface), emulation, self.link, self.handoff
            )
        except OSError:
            receiver.close()
            raise

    def publish(self, tunnels: Mapping[str, TunnelUp]) -> None:
        """The data plane uses ``tunnels`` from now on (after a ``sync`` that routes them)."""
        if self.dataplane is not None and tunnels != self._published:
            table = self._table(tunnels)
            self._published = dict(tunnels)
            self.dataplane.publish(table)

    def answers(self, target: str) -> bool:
        """Whether the kernel answers a Neighbour Solicitation for ``target`` on the access link:
        it holds the address there (RFC 4861 §7.2.3), and then the role must not (§7.2.4)."""
        raise NotImplementedError

    @property
    def counts(self) -> Counter[str]:
        """Packets encapsulated, decapsulated, handed back and dropped (by reason)."""
        return Counter() if self.dataplane is None else self.dataplane.counts

    def close(self) -> None:
        """Take this role's state out of the kernel, the TUN last (once; later calls do nothing)."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.dataplane is not None:
                self.dataplane.stop()
                self.dataplane.receiver.close()
            self._remove()
        finally:
            self.tun.close()
            self.rtnl.close()

    def _remove(self) -> None:
        raise NotImplementedError


def _packet_socket(program: bpf.Program, iface: str | None = None) -> socket.socket:
    """A packet socket for the data plane: cooked (IPv6 first) on any interface, or on ``iface``
    (Ethernet) a raw one with a virtio_net_hdr before each frame (the kernel allows the header
    only on raw sockets): what a kernel tunnel entry sent arrives as it was sent."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM if iface is None else socket.SOCK_RAW,
                         socket.htons(ETH_P_IPV6))  # fmt: skip
    if iface is not None:
        sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    receive_buffer(sock)  # a burst of a TCP window waits here while the data plane catches up
    program.attach(sock)
    if iface is not None:
        sock.bind((iface, ETH_P_IPV6))
    return sock


class DarKernel(KernelPath):
    """A DAR's kernel state: its address on the access interface, a route per tunnel.

    With ``kernel_entry`` (the default where this kernel loads the program and no link
    emulation delays the data plane) each route carries the tunnel's BPF program
    (:mod:`scapy_fama.net.lwt`): the kernel encapsulates, and the data plane only sees what
    the program hands on; otherwise the route leads into the TUN and the data plane
    encapsulates everything."""

    def __init__(
        self, iface: str, address: str, prefix: str, kernel_entry: bool = True, untracked_na: bool = False,
        link_local: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(iface, DAR)
        self.address = address
        self.prefix = prefix
        self.kernel_entry = kernel_entry
        self.routes: dict[str, str | None] = {}  # HoA -> the CoA its route's program tunnels to
        self.handoff = Handoff()  # read by the automaton's NodeSocket, which closes it
        self.held = frozenset(a for a in (address, link_local) if a)  # on the access link while it runs
        self.rtnl.address(True, address, HOST, iface)
        # the link-local address, where the interface lacks it: added here, removed at close
        self.link_local = link_local if link_local and self.rtnl.address_flags(link_local, iface) is None else None
        if self.link_local is not None:
            self.rtnl.address(True, self.link_local, ON_LINK, iface)
        self._conf: dict[str, int] = {}  # what the interface had, for close
        self._untracked: str | None = None  # why the kernel refused accept_untracked_na
        if untracked_na:
            try:
                self._conf = ipv6_conf(iface, UNTRACKED_NA)
            except OSError as exc:  # an older kernel: a new CoA is resolved by an NS, as without
                self._untracked = str(exc)

    def start(self, log: Log, emulation: LinkEmulation | None = None) -> None:
        super().start(log, emulation)
        why = "off" if not self.kernel_entry else "link emulation" if emulation is not None else lwt.supported()
        self._entry(why)
        if self._conf or self._untracked:
            self._log("event", "untracked-na", kernel="refused" if self._untracked else "accepted", why=self._untracked)

    def _entry(self, why: str | None) -> None:
        self.kernel_entry = why is None
        self._log("event", "tunnel-entry", by="kernel (BPF lwt xmit)" if why is None else "data plane", why=why)

    def answers(self, target: str) -> bool:
        return target in self.held  # a bound HoA is not: the role proxies it (RFC 6275 §10.4.1)

    def _receiver(self) -> socket.socket:
        skip = [socket.if_nametoindex(name) for name in ("lo", TUN_NAME)]
        return _packet_socket(bpf.tunnelled(self.address, skip))

    def _table(self, tunnels: Mapping[str, TunnelUp]) -> TunnelTable:
        return TunnelTable(tunnels, DAR, self.prefix, frozenset(self.routes), self._published)

    def sync(self, tunnels: Mapping[str, TunnelUp]) -> None:
        for hoa in sorted(tunnels):  # RFC 6275 §10.4.1: the HoA's traffic goes into its tunnel
            tunnel = tunnels[hoa]
            remote = tunnel.remote if self.kernel_entry else None
            if hoa not in self.routes or self.routes[hoa] != remote:
                self.routes[hoa] = self._route(hoa, tunnel.local, remote)
        for hoa in sorted(set(self.routes) - set(tunnels)):
            self.rtnl.route(False, hoa, TUN_NAME)
            del self.routes[hoa]
        self.publish(tunnels)

    def _route(self, hoa: str, local: str, remote: str | None) -> str | None:
        """Route ``hoa`` into the TUN, through the kernel's tunnel to ``remote`` when one is given
        (the route is replaced in one request: packets take the old tunnel or the new one);
        where the route's program tunnels to, None for none."""
        if remote is None:
            self.rtnl.route(True, hoa, TUN_NAME)
            return None
        try:
            fd = lwt.load(local, remote)
        except OSError as exc:  # the kernel took the probe but not this one: the data plane does it all
            self._entry(str(exc))
            for other in [h for h, coa in self.routes.items() if coa is not None]:
                self.rtnl.route(True, other, TUN_NAME)
                self.routes[other] = None
            self.rtnl.route(True, hoa, TUN_NAME)
            return None
        try:
            self.rtnl.route(True, hoa, TUN_NAME, xmit=(fd, lwt.PROGRAM_NAME))
        finally:
            os.close(fd)  # the route holds the program now
        return remote

    def _remove(self) -> None:
        try:
            self.sync({})
            self.rtnl.address(False, self.address, HOST, self.iface)
            if self.link_local is not None:
                self.rtnl.address(False, self.link_local, ON_LINK, self.iface)
        finally:
            ipv6_conf(self.iface, self._conf)


@dataclass(frozen=True)
class MnState:
    """What an MN's kernel holds (the arguments of :meth:`MnKernel.sync`)."""

    native: str | None
    gateway: str | None
    kept: frozenset[str]
    tunnels: Mapping[str, TunnelUp]
    optimistic: bool = False


class MnKernel(KernelPath):
    """An MN's kernel state: the current address on the link, the kept ones on the TUN.

    Once started, the automaton posts the state to reach (``follow``) and a thread of its own
    applies it (:mod:`scapy_fama.automata.follower`), so that a BA is never kept waiting behind
    the kernel's work for the move that sent its BU."""

    link = ETHER_HEADER

    def __init__(self, iface: str) -> None:
        super().__init__(iface, MN)
        self.native: str | None = None
        self.gateway: str | None = None
        self.kept: set[str] = set()
        self._kernel_dad = False  # the kernel's DAD on the current address may still run
        self._index = 0  # the interface index the data plane's socket is bound to, once started
        self._follower: Follower[MnState] | None = None  # applies what follow() posts, once started
        self.rtnl.route(True, None, TUN_NAME, table=TABLE)
        self.link_local = self._link_local()
        self._conf = ipv6_conf(iface, ACCESS_CONF)  # what the interface had, for close

    def _link_local(self) -> str:
        """The interface's link-local address, or the one its MAC makes (RFC 4291 §2.5.1)."""
        held = [a for a in self.rtnl.addresses(self.iface) if ipaddress.IPv6Address(a).is_link_local]
        return held[0] if held else str(ipaddress.IPv6Address("fe80::" + in6_mactoifaceid(mac(self.iface))))

    def start(self, log: Log, emulation: LinkEmulation | None = None) -> None:
        super().start(log, emulation)
        self._follower = Follower(self._reach, self._failed, f"{self.iface}-kernel")

    def follow(self, state: MnState) -> None:
        """Make the kernel reach ``state`` soon, in the follower's thread (see the class)."""
        assert self._follower is not None, "start() first"
        self._follower.post(state)

    def _reach(self, state: MnState) -> None:
        self.sync(state.native, state.gateway, set(state.kept), state.tunnels, state.optimistic)

    def _failed(self, exc: Exception) -> None:
        self._log("error", type(exc).__name__, why=str(exc))

    def answers(self, target: str) -> bool:
        return target in (self.native, self.link_local)  # a kept address is on the TUN, off the link

    def _receiver(self) -> socket.socket:
        self._index = socket.if_nametoindex(self.iface)
        return _packet_socket(bpf.tunnelled(None, link=ETHER_HEADER), self.iface)

    def sync(self, native: str | None, gateway: str | None, kept: set[str], tunnels: Mapping[str, TunnelUp],
             optimistic: bool = False) -> None:  # fmt: skip
        """Make the kernel hold ``native`` on the link (via ``gateway``) and ``kept`` on the TUN,
        and the data plane carry ``tunnels``; ``native`` is ``optimistic`` while the core's DAD runs.

        An address moving between the two is added before it is removed, so the
        kernel never loses it and the sockets bound to it stay; a new current address is a
        new link, whose router may have the old one's link-local address (fe80::1). An
        optimistic one is added as such (RFC 4429 §3.3 in the kernel, see the module's docstring)."""
        moved = native != self.native
        if moved:
            self._kernel_dad = native is not None and optimistic
            if native is not None:
                self._attach()
                self.rtnl.address(True, native, ON_LINK, self.iface, optimistic=optimistic)
        elif native is not None and self._kernel_dad and not optimistic:
            self._kernel_dad = not self._dad_over(native)
        for address in sorted(kept - self.kept):
            self.rtnl.address(True, address, HOST, TUN_NAME)
            self.rtnl.rule(True, address, TABLE, RULE_PRIORITY)
            self.kept.add(address)
        if self.native is not None and self.native != native:
            self._drop(self.native)
        self.native = native
        for address in sorted(self.kept - kept):
            self._unkeep(address)
        if native is not None and gateway is not None and (moved or gateway != self.gateway):
            self.rtnl.flush_neighbours(self.iface)  # a new link: the old one's neighbours are gone
            self.rtnl.route(True, None, self.iface, gateway=gateway)
            self.gateway = gateway
        self.publish(tunnels)

    def _attach(self) -> None:
        """A new attachment: the data plane's socket on the interface as it is now, the interface's
        settings (again), its link-local address usable at once (see the module's docstring; a
        replace would leave a running DAD alone)."""
        self._rebind()
        ipv6_conf(self.iface, ACCESS_CONF)
        flags = self.rtnl.address_flags(self.link_local, self.iface)
        if flags is not None and not flags & IFA_F_TENTATIVE:
            return
        if flags is not None:
            self.rtnl.address(False, self.link_local, ON_LINK, self.iface)
        self.rtnl.address(True, self.link_local, ON_LINK, self.iface)

    def _rebind(self) -> None:
        """Bind the data plane's packet socket again where the interface of this name has another
        index than the one it is bound to (deleted and created anew): bound to a dead index it
        takes nothing more. A packet socket may be bound again, and keeps its BPF program and its
        virtio_net_hdr. An absent interface is one OSError line (the attachment waits for the next
        event, as it does when the interface's settings cannot be written)."""
        if self.dataplane is None:
            return
        try:
            index = socket.if_nametoindex(self.iface)
            if index == self._index:
                return
            self.dataplane.receiver.bind((self.iface, ETH_P_IPV6))
        except OSError as exc:
            why = f"the data plane's socket cannot follow it ({exc.strerror or exc})"
            raise OSError(f"access interface {self.iface} is gone: {why}") from None
        self._log("event", "dataplane-rebound", iface=self.iface, ifindex=f"{self._index}->{index}")
        self._index = index

    def _drop(self, native: str) -> None:
        """Remove ``native`` from the link; gone already when the interface went down."""
        try:
            self.rtnl.address(False, native, ON_LINK, self.iface)
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                raise

    def _dad_over(self, native: str) -> bool:
        """The core's DAD on ``native`` is over without a duplicate: whether the kernel's is too.

        The kernel's began when the address was added, after the core's, and ends a few
        milliseconds later; a duplicate it sees in between is one the core ignores (profile
        §2 step 3: DAD is the core's), so an address the kernel failed is put back as the
        core holds it, without DAD (a replace would leave it failed)."""
        flags = self.rtnl.address_flags(native, self.iface)
        if flags is None or not flags & IFA_F_TENTATIVE:
            return True
        if not flags & IFA_F_DADFAILED:
            return False  # still running: looked at again after the next event
        self.rtnl.address(False, native, ON_LINK, self.iface)
        self.rtnl.address(True, native, ON_LINK, self.iface)
        self._log("event", "kernel-dad-overruled", address=native, why="the kernel's DAD failed after the core's ended")
        return True

    def _unkeep(self, address: str) -> None:
        self.kept.discard(address)
        self.rtnl.rule(False, address, TABLE, RULE_PRIORITY)
        self.rtnl.address(False, address, HOST, TUN_NAME)

    def close(self) -> None:
        if self._follower is not None:
            self._follower.stop()  # what it was applying is done: the state is taken down from here
        super().close()

    def _remove(self) -> None:
        try:
            gateway, self.gateway = self.gateway, None
            if gateway is not None:
                with suppress(ProcessLookupError):  # gone already when the interface went down
                    self.rtnl.route(False, None, self.iface, gateway=gateway)
            self.sync(None, None, set(), {})
        finally:
            ipv6_conf(self.iface, self._conf)
