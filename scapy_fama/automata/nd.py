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

A queue holds at most ``QUEUE`` packets per address while it resolves; the NS
is repeated ``MAX_MULTICAST_SOLICIT`` times ``RETRANS_TIMER`` apart, then the
queued packets are dropped (RFC 4861 §7.2.2, §10). The table has no timer of
its own: the automaton's tick calls :meth:`Neighbors.due`. Entries do not age
(a link change clears the table), which is enough for a lab or a test link.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils6 import in6_getnsma, in6_getnsmac

MAX_MULTICAST_SOLICIT = 3  # RFC 4861 §10
RETRANS_TIMER = 1.0
QUEUE = 8
ALL_NODES = "ff02::1"


def _solicited_node(address: str) -> str:
    return socket.inet_ntop(socket.AF_INET6, in6_getnsma(socket.inet_pton(socket.AF_INET6, address)))


def group_mac(address: str) -> str:
    """The Ethernet multicast address of an IPv6 multicast group (RFC 2464 §7)."""
    return in6_getnsmac(socket.inet_pton(socket.AF_INET6, address))


def is_multicast(address: str) -> bool:
    return address.lower().startswith("ff")


def solicitation(src: str, target: str, mac: str) -> Packet:
    """An NS for ``target``; from ``::`` it is a DAD probe and carries no SLLA (RFC 4862 §5.4.2)."""
    dst = _solicited_node(target)
    ns = IPv6(src=src, dst=dst, hlim=255) / ICMPv6ND_NS(tgt=target)
    if src != "::":
        ns = ns / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    return Ether(src=mac, dst=group_mac(dst)) / ns


def advertisement(target: str, dst: str, dst_mac: str, mac: str, router: bool) -> Packet:
    """An NA for ``target``: solicited unless it answers a DAD probe (to all nodes)."""
    solicited = dst != ALL_NODES
    na = ICMPv6ND_NA(tgt=target, R=int(router), S=int(solicited), O=1)
    return (
        Ether(src=mac, dst=dst_mac)
        / IPv6(src=target, dst=dst, hlim=255)
        / na
        / ICMPv6NDOptDstLLAddr(lladdr=mac)
    )


@dataclass
class _Resolving:
    packets: list[Packet]
    next_at: float
    tries: int = 1


@dataclass
class Neighbors:
    """IPv6 -> MAC for one link, and the packets waiting for an answer."""

    macs: dict[str, str] = field(default_factory=dict)
    _resolving: dict[str, _Resolving] = field(default_factory=dict)

    def learn(self, address: str, mac: str) -> list[Packet]:
        """Note ``address`` at ``mac``; returns the packets that were waiting for it."""
        self.macs[address] = mac
        waiting = self._resolving.pop(address, None)
        return waiting.packets if waiting else []

    def wait(self, address: str, packet: Packet, now: float) -> bool:
        """Queue ``packet`` until ``address`` resolves; True when an NS must go out now."""
        waiting = self._resolving.get(address)
        if waiting is None:
            self._resolving[address] = _Resolving([packet], now + RETRANS_TIMER)
            return True
        if len(waiting.packets) < QUEUE:
            waiting.packets.append(packet)
        return False

    def due(self, now: float) -> tuple[list[str], list[Packet]]:
        """Addresses to solicit again, and the packets given up (no answer after the last NS)."""
        again: list[str] = []
        lost: list[Packet] = []
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
