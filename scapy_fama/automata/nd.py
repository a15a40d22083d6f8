"""Neighbour Discovery for the automata (RFC 4861 §7): the neighbour cache, NS/NA, DAD probes.

Theory of operation
-------------------
The cores speak IPv6 addresses; Ethernet needs MAC addresses. The FAMA
addresses live only in the automata (the kernel never owns them, see
:mod:`scapy_fama.net.iface`), so the automata run the part of ND that makes
them reachable and lets them reach others::

    DAR: packet for 2001:db8:2::5 -> Neighbors.wait -> NS(target) to ff02::1:ff00:5 (SLLA)
         NA(target, TLLA) <- MN                      -> Neighbors.advertised -> the queued packets leave
         unsolicited NA for an on-link address       -> (opt-in) a STALE entry: nothing to resolve later
    MN:  NS for its configured address               -> NA (S=1, O=1; O=0 while optimistic)
         its address usable on a new link            -> unsolicited NA to all routers (O=0)
         address tentative                           -> NS from :: (DAD probe)
         an NA for it, or another node's DAD probe   -> a collision (MnCore.on_dad_collision)

:class:`Neighbors` is the neighbour cache of RFC 4861 §7.3.2, as a state
machine on the caller's clock; it learns only what §7 lets a node learn, so
that nobody on the link can point another node's address at itself (issue 14
item 7)::

    (none) --packet to send--> INCOMPLETE --NA with TLLA--> REACHABLE (S=1) / STALE (S=0)
       |                          | 3 NSs unanswered: the entry and its packets go
       +--NS for one of our addresses, RS (router), RA (host), with an SLLA: STALE (§7.2.3,
          §6.2.6, §6.3.4); an NA for an address without an entry is ignored (§7.2.5), but
          at a router that opts in an unsolicited one for an address of its link, with a
          TLLA, makes the entry STALE (RFC 9131 §4.2)
    REACHABLE --ReachableTime--> STALE --used--> DELAY --5 s--> PROBE --3 unicast NSs unanswered--> gone
    STALE unused for STALE_LIFETIME: gone (garbage collection, §7.3.1's "MAY be discarded")

An NA changes a known address only as §7.2.5's override rules say: without
the Override flag and with another link-layer address it never replaces the
cached one; a REACHABLE entry then becomes STALE, so the next use probes it.

Gratuitous ND (RFC 9131): an MN whose address becomes usable on a link (a new
CoA, optimistic or after DAD, or its address again on a link it comes back to)
announces it with one unsolicited NA to all routers, Override clear (§4.1; RFC
4429 §3.3 for an optimistic address), before its BUs leave. A DAR that opts in
(``untracked_na``, ``fama-dar --accept-untracked-na``), and then its kernel in
kernel mode (``accept_untracked_na``), takes it as a STALE entry, so the BAs and
the first packets for the new CoA leave at once instead of waiting for an NS/NA
exchange with an MN that may be busy signing its BUs. It is opt-in, as in Linux,
because it gives up part of the guarantee above: any node on the link can then
claim an address the DAR has no entry for yet (RFC 9131 §7), where otherwise it
can only race the owner's answer to the DAR's NS. It never replaces a known
address without the Override flag, and the cache's bounds hold such entries as
they hold NSs.

Bounds (profile §6 "Bounded state"): at most ``capacity`` entries (the least
recently used entry that is not resolving goes first), at most ``resolving``
addresses under resolution (a packet for another one is dropped), ``QUEUE``
packets queued per address. A flood of spoofed NSs, RSs or packets to ever new
on-link addresses therefore holds the table at its bounds.

Frames are bytes (:mod:`scapy_fama.wire.icmpv6`, :mod:`scapy_fama.wire.link`);
MAC addresses are text, as the ports give them.
"""

from __future__ import annotations

import enum
import random
from collections import OrderedDict
from dataclasses import dataclass, field

from scapy_fama.wire import icmpv6
from scapy_fama.wire.link import ether, mac_bytes, mac_text, solicited_node
from scapy_fama.wire.link import group_mac as group_mac_bytes

# RFC 4861 §10
MAX_MULTICAST_SOLICIT = 3
MAX_UNICAST_SOLICIT = 3
RETRANS_TIMER = 1.0
DELAY_FIRST_PROBE_TIME = 5.0
REACHABLE_TIME = 30.0
MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR = 0.5, 1.5
# this driver's bounds
STALE_LIFETIME = 60.0  # seconds an unused STALE entry is kept (as Linux's gc_stale_time)
CAPACITY = 1024
RESOLVING = 64
QUEUE = 8
ALL_NODES = "ff02::1"
ALL_ROUTERS = "ff02::2"


def group_mac(address: str) -> str:
    """The Ethernet multicast address of an IPv6 multicast group (RFC 2464 §7)."""
    return mac_text(group_mac_bytes(address))


def solicitation(src: str, target: str, mac: str, *, sllao: bool = True, dst_mac: str | None = None) -> bytes:
    """An NS frame for ``target``: to its solicited-node group, or (``dst_mac``, a probe of a
    known neighbour, RFC 4861 §7.3.3) to the target itself. It carries our SLLA unless it comes
    from ``::`` (a DAD probe, RFC 4862 §5.4.2) or ``sllao`` is off (from an optimistic address,
    RFC 4429 §3.3)."""
    dst = solicited_node(target) if dst_mac is None else target
    packet = icmpv6.neighbor_solicitation(src, dst, target, mac_bytes(mac) if sllao else None)
    link_dst = group_mac_bytes(dst) if dst_mac is None else mac_bytes(dst_mac)
    return ether(link_dst, mac_bytes(mac), packet)


def advertisement(target: str, dst: str, dst_mac: str, mac: str, router: bool, *, override: bool = True) -> bytes:
    """An NA frame for ``target``: solicited unless it answers a DAD probe (to all nodes);
    ``override`` off for an optimistic address (RFC 4429 §3.3)."""
    packet = icmpv6.neighbor_advertisement(target, dst, target, mac_bytes(mac), router=router,
                                           solicited=dst != ALL_NODES, override=override)  # fmt: skip
    return ether(mac_bytes(dst_mac), mac_bytes(mac), packet)


def announcement(address: str, mac: str) -> bytes:
    """The unsolicited NA of a host for its new ``address`` (RFC 9131 §4.1): to all routers,
    from the address itself, with its TLLA, Solicited and Override clear (O=0: it creates an
    entry where none is and never replaces one, whether or not DAD is over; RFC 4429 §3.3)."""
    packet = icmpv6.neighbor_advertisement(address, ALL_ROUTERS, address, mac_bytes(mac), router=False,
                                           solicited=False, override=False)  # fmt: skip
    return ether(group_mac_bytes(ALL_ROUTERS), mac_bytes(mac), packet)


class State(enum.Enum):
    """RFC 4861 §7.3.2."""

    INCOMPLETE = "incomplete"
    REACHABLE = "reachable"
    STALE = "stale"
    DELAY = "delay"
    PROBE = "probe"


@dataclass
class Entry:
    """One neighbour: its link-layer address (None while INCOMPLETE), state and timer."""

    state: State
    mac: str | None
    timer: float  # when the state's timer fires (STALE: when the unused entry goes)
    tries: int = 0  # NSs sent in INCOMPLETE or PROBE
    packets: list[bytes] = field(default_factory=list)  # waiting for the resolution


@dataclass
class Due:
    """What the cache's timers ask of the driver at one tick."""

    solicit: list[str] = field(default_factory=list)  # multicast NS for these (INCOMPLETE)
    probe: list[tuple[str, str]] = field(default_factory=list)  # unicast NS: (address, MAC)
    lost: list[bytes] = field(default_factory=list)  # packets whose neighbour never answered


class Neighbors:
    """The neighbour cache of one link (see the module's docstring)."""

    def __init__(
        self, capacity: int = CAPACITY, resolving: int = RESOLVING, rng: random.Random | None = None
    ) -> None:
        self.capacity = capacity
        self.resolving = resolving
        self._rng = rng or random.Random()
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self._incomplete = 0
        self._next = float("inf")  # no timer fires before this

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, address: str) -> Entry | None:
        return self._entries.get(address)

    # ---------------------------------------------------------------- sending

    def lookup(self, address: str, now: float) -> str | None:
        """The MAC to send a packet for ``address`` to, if resolved; a STALE entry in use
        starts its reachability check (DELAY, §7.3.3)."""
        entry = self._entries.get(address)
        if entry is None or entry.mac is None:
            return None
        self._entries.move_to_end(address)
        if entry.state is State.STALE:
            self._set(entry, State.DELAY, now + DELAY_FIRST_PROBE_TIME)
        return entry.mac

    def wait(self, address: str, packet: bytes, now: float) -> bool | None:
        """Queue ``packet`` until ``address`` resolves: True when a multicast NS must go out
        now, False when one went already, None when the packet is dropped (the queue of the
        address, or the number of addresses under resolution, is at its bound)."""
        entry = self._entries.get(address)
        if entry is not None:
            if len(entry.packets) >= QUEUE:
                return None
            entry.packets.append(packet)
            return False
        if self._incomplete >= self.resolving or not self._room():
            return None
        entry = Entry(State.INCOMPLETE, None, now + RETRANS_TIMER, tries=1, packets=[packet])
        self._entries[address] = entry
        self._incomplete += 1
        self._next = min(self._next, entry.timer)
        return True

    # ---------------------------------------------------------------- learning (RFC 4861 §7.2)

    def heard(self, address: str, mac: str, now: float) -> list[bytes]:
        """An NS for one of our addresses (§7.2.3), an RS at a router (§6.2.6) or an RA at a
        host (§6.3.4), from ``address`` with its SLLA ``mac``: create the entry STALE, or make
        it STALE with the new MAC when it differs. The packets that waited for it."""
        entry = self._entries.get(address)
        if entry is None:
            if not self._room():
                return []
            self._entries[address] = entry = Entry(State.STALE, mac, now + STALE_LIFETIME)
            self._next = min(self._next, entry.timer)
            return []
        waiting = self._resolved(entry)
        if entry.mac != mac or waiting:
            entry.mac = mac
            self._set(entry, State.STALE, now + STALE_LIFETIME)
        self._entries.move_to_end(address)
        return waiting

    def advertised(
        self, target: str, mac: str | None, *, solicited: bool, override: bool, now: float, untracked: bool = False
    ) -> list[bytes]:
        """An NA for ``target`` (§7.2.5): nothing for an address without an entry, unless
        ``untracked`` (a router, ``target`` on its link: RFC 9131 §4.2) and it is an unsolicited
        NA with a TLLA, which makes the entry STALE; the packets that waited for it when it
        resolves one."""
        entry = self._entries.get(target)
        if entry is None:
            if untracked and not solicited and mac is not None and self._room():  # RFC 9131 §4.2
                self._entries[target] = entry = Entry(State.STALE, mac, now + STALE_LIFETIME)
                self._next = min(self._next, entry.timer)
            return []  # otherwise §7.2.5: "silently discarded", it creates no entry
        if entry.state is State.INCOMPLETE:
            if mac is None:
                return []  # §7.2.5: no TLLA, nothing to resolve with
            entry.mac = mac
            waiting = self._resolved(entry)
            self._confirm(entry, solicited, now)
            return waiting
        changed = mac is not None and mac != entry.mac
        if not override and changed:  # never replaced without O; a REACHABLE entry is doubted
            if entry.state is State.REACHABLE:
                self._set(entry, State.STALE, now + STALE_LIFETIME)
            return []
        if changed:
            entry.mac = mac
        if solicited:
            self._set(entry, State.REACHABLE, now + self._reachable_time())
        elif changed:
            self._set(entry, State.STALE, now + STALE_LIFETIME)
        return []

    def _confirm(self, entry: Entry, solicited: bool, now: float) -> None:
        if solicited:
            self._set(entry, State.REACHABLE, now + self._reachable_time())
        else:
            self._set(entry, State.STALE, now + STALE_LIFETIME)

    def _resolved(self, entry: Entry) -> list[bytes]:
        """An INCOMPLETE entry gets its MAC: its packets, which the caller sends now."""
        if entry.state is not State.INCOMPLETE:
            return []
        self._incomplete -= 1
        waiting, entry.packets = entry.packets, []
        return waiting

    def _reachable_time(self) -> float:
        return REACHABLE_TIME * self._rng.uniform(MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR)  # §6.3.2

    def _set(self, entry: Entry, state: State, timer: float) -> None:
        entry.state, entry.timer, entry.tries = state, timer, 0
        self._next = min(self._next, timer)

    def _room(self) -> bool:
        """Room for one more entry, the least recently used resolved one evicted if needed."""
        if len(self._entries) < self.capacity:
            return True
        victim = next((a for a, e in self._entries.items() if e.state is not State.INCOMPLETE), None)
        if victim is None:
            return False
        del self._entries[victim]
        return True

    # ---------------------------------------------------------------- timers (§7.3.3)

    def due(self, now: float) -> Due:
        """Run the timers that are due: retransmissions, probes, ageing, garbage collection."""
        due = Due()
        if now < self._next:
            return due
        self._next = float("inf")
        for address, entry in list(self._entries.items()):
            if now >= entry.timer:
                self._fire(address, entry, now, due)
            if address in self._entries:
                self._next = min(self._next, entry.timer)
        return due

    def _fire(self, address: str, entry: Entry, now: float, due: Due) -> None:
        match entry.state:
            case State.INCOMPLETE if entry.tries < MAX_MULTICAST_SOLICIT:
                entry.tries += 1
                entry.timer = now + RETRANS_TIMER
                due.solicit.append(address)
            case State.INCOMPLETE:
                self._incomplete -= 1
                due.lost += self._entries.pop(address).packets
            case State.REACHABLE:
                self._set(entry, State.STALE, now + STALE_LIFETIME)
            case State.STALE:
                del self._entries[address]
            case State.DELAY:
                self._set(entry, State.PROBE, now + RETRANS_TIMER)
                entry.tries = 1
                due.probe.append((address, entry.mac or ""))
            case State.PROBE if entry.tries < MAX_UNICAST_SOLICIT:
                entry.tries += 1
                entry.timer = now + RETRANS_TIMER
                due.probe.append((address, entry.mac or ""))
            case State.PROBE:
                del self._entries[address]

    def clear(self) -> None:
        """A new link (or the link went down): nothing learnt on the old one holds."""
        self._entries.clear()
        self._incomplete = 0
        self._next = float("inf")
