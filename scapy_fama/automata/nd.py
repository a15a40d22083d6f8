"""Neighbour Discovery for the automata (RFC 4861 §7): address resolution, NS/NA, DAD probes.

Theory of operation
-------------------
The cores speak IPv6 addresses; Ethernet needs MAC addresses. The FAMA
addresses live only in the automata (the kernel never owns them, see
:mod:`scapy_fama.net.iface`), so the automata run the part of ND that makes
them reachable and lets them reach others::

    DAR: packet for 2001:db8:2::5 -> Neighbors.wait -> NS(target) to ff02::1:ff00:5 (SLLA)
         NA(target, TLLA) <- MN                      -> Neighbors.learn -> the queued packets leave
    MN:  NS for its configured address               -> NA (S=1, O=1, TLLA)
         address tentative                           -> NS from :: (DAD probe)
         an NA for it, or another node's DAD probe   -> a collision (MnCore.on_dad_collision)

Frames are bytes (:mod:`scapy_fama.wire.icmpv6`, :mod:`scapy_fama.wire.link`);
MAC addresses are text, as the ports give them. A queue holds at most
``QUEUE`` packets per address while it resolves; the NS is repeated
``MAX_MULTICAST_SOLICIT`` times ``RETRANS_TIMER`` apart, then the queued
packets are dropped (RFC 4861 §7.2.2, §10). The table has no timer of its own:
the automaton's tick calls :meth:`Neighbors.due`. Entries do not age (a link
change clears the table), which is enough for a lab or a test link.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scapy_fama.wire import icmpv6
from scapy_fama.wire.link import ether, mac_bytes, mac_text, solicited_node
from scapy_fama.wire.link import group_mac as group_mac_bytes

MAX_MULTICAST_SOLICIT = 3  # RFC 4861 §10
RETRANS_TIMER = 1.0
QUEUE = 8
ALL_NODES = "ff02::1"


def group_mac(address: str) -> str:
    """The Ethernet multicast address of an IPv6 multicast group (RFC 2464 §7)."""
    return mac_text(group_mac_bytes(address))


def is_multicast(address: str) -> bool:
    return address.lower().startswith("ff")


def solicitation(src: str, target: str, mac: str) -> bytes:
    """An NS frame for ``target``; from ``::`` it is a DAD probe and carries no SLLA (RFC 4862 §5.4.2)."""
    dst = solicited_node(target)
    packet = icmpv6.neighbor_solicitation(src, dst, target, mac_bytes(mac))
    return ether(group_mac_bytes(dst), mac_bytes(mac), packet)


def advertisement(target: str, dst: str, dst_mac: str, mac: str, router: bool) -> bytes:
    """An NA frame for ``target``: solicited unless it answers a DAD probe (to all nodes)."""
    packet = icmpv6.neighbor_advertisement(target, dst, target, mac_bytes(mac), router=router,
                                           solicited=dst != ALL_NODES)  # fmt: skip
    return ether(mac_bytes(dst_mac), mac_bytes(mac), packet)


@dataclass
class _Resolving:
    packets: list[bytes]
    next_at: float
    tries: int = 1


@dataclass
class Neighbors:
    """IPv6 -> MAC for one link, and the packets (IPv6 bytes) waiting for an answer."""

    macs: dict[str, str] = field(default_factory=dict)
    _resolving: dict[str, _Resolving] = field(default_factory=dict)

    def learn(self, address: str, mac: str) -> list[bytes]:
        """Note ``address`` at ``mac``; returns the packets that were waiting for it."""
        self.macs[address] = mac
        waiting = self._resolving.pop(address, None)
        return waiting.packets if waiting else []

    def wait(self, address: str, packet: bytes, now: float) -> bool:
        """Queue ``packet`` until ``address`` resolves; True when an NS must go out now."""
        waiting = self._resolving.get(address)
        if waiting is None:
            self._resolving[address] = _Resolving([packet], now + RETRANS_TIMER)
            return True
        if len(waiting.packets) < QUEUE:
            waiting.packets.append(packet)
        return False

    def due(self, now: float) -> tuple[list[str], list[bytes]]:
        """Addresses to solicit again, and the packets given up (no answer after the last NS)."""
        again: list[str] = []
        lost: list[bytes] = []
        for address, waiting in list(self._resolving.items()):
            if now < waiting.next_at:
                continue
            if waiting.tries >= MAX_MULTICAST_SOLICIT:
                lost += self._resolving.pop(address).packets
                continue
            waiting.tries += 1
            waiting.next_at = now + RETRANS_TIMER
            again.append(address)
        return again, lost

    def clear(self) -> None:
        """A new link: nothing learnt on the old one holds."""
        self.macs.clear()
        self._resolving.clear()
