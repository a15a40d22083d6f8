"""Classic BPF programs for the roles' packet sockets: what reaches Python at all.

Theory of operation
-------------------
A packet socket hands a process every frame of its interface; a kernel socket
filter (SO_ATTACH_FILTER, a classic BPF program of ``struct sock_filter``
instructions) drops the rest in the kernel, before any copy to user space
(DESIGN.md "bytes first": native traffic never reaches Python). Offsets are into
the frame as the socket sees it (Ethernet for SOCK_RAW, IPv6 for SOCK_DGRAM);
the packet type (host, other host, outgoing) is the ancillary load
``SKF_AD_OFF + SKF_AD_PKTTYPE``. Jumps name their target ("accept", "drop")
and are resolved to offsets when the program is assembled::

    own_frames(): EtherType IPv6, not outgoing nor another host's (every frame for the node)
    signalling(): the same, and Next Header 135 (MH), 60 / 43 / 0 / 44 (a header that may
                  carry an MH behind it: a BU's HAO, a BA's RH2, a fragment), or an ICMPv6
                  RS, RA, NS or NA
    to_address(a): IPv6 packets to ``a`` but IPv6-in-IPv6 (a cooked socket, no Ethernet header)
    tunnelled(a, skip): IPv6-in-IPv6 (or behind a Destination Options header, RFC 2473
                  §4.1.1) for this host [to ``a``], on any interface but those of ``skip``
                  (a cooked socket: the kernel-mode data plane's, automata/dataplane.py)
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Sequence

from scapy_fama.wire.numbers import (
    DEST_OPTS,
    ETHER_HEADER,
    ETHERTYPE_IPV6,
    FRAGMENT,
    HOP_BY_HOP,
    ICMPV6,
    IPV6_HEADER,
    IPV6_IN_IPV6,
    MH,
    NA,
    ROUTING,
    RS,
)

SO_ATTACH_FILTER = 26
LD_W_ABS, LD_H_ABS, LD_B_ABS = 0x20, 0x28, 0x30  # BPF_LD | BPF_W/H/B | BPF_ABS (linux/filter.h)
JEQ, JGE, JGT = 0x15, 0x35, 0x25  # BPF_JMP | BPF_JEQ/JGE/JGT | BPF_K
RET = 0x06  # BPF_RET | BPF_K
SKF_AD_PKTTYPE = -0x1000 + 4  # SKF_AD_OFF + SKF_AD_PKTTYPE
SKF_AD_IFINDEX = -0x1000 + 8  # SKF_AD_OFF + SKF_AD_IFINDEX
PACKET_HOST, PACKET_OTHERHOST, PACKET_OUTGOING = 0, 3, 4
NEXT_HEADER = 6  # byte of the IPv6 header

Jump = int | str  # an offset, or a label: "accept" or "drop"
Op = tuple[int, Jump, Jump, int]  # code, jump if true, jump if false, k


class Program:
    """An assembled program; it keeps its instructions alive while a socket uses them."""

    def __init__(self, ops: Sequence[Op]) -> None:
        ops = list(ops) + [(RET, 0, 0, 0x40000), (RET, 0, 0, 0)]  # the whole frame, or nothing
        labels = {"accept": len(ops) - 2, "drop": len(ops) - 1}
        self.instructions = [
            (code, _offset(jt, i, labels), _offset(jf, i, labels), k) for i, (code, jt, jf, k) in enumerate(ops)
        ]
        packed = b"".join(struct.pack("HBBI", c, t, f, k & 0xFFFFFFFF) for c, t, f, k in self.instructions)
        self._code = ctypes.create_string_buffer(packed)

    def attach(self, sock: socket.socket) -> None:
        fprog = struct.pack("HL", len(self.instructions), ctypes.addressof(self._code))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def _offset(jump: Jump, at: int, labels: dict[str, int]) -> int:
    return labels[jump] - at - 1 if isinstance(jump, str) else jump


def _own() -> list[Op]:
    """IPv6 in Ethernet, neither outgoing nor for another host."""
    return [
        (LD_H_ABS, 0, 0, ETHER_HEADER - 2),
        (JEQ, 0, "drop", ETHERTYPE_IPV6),
        (LD_W_ABS, 0, 0, SKF_AD_PKTTYPE),
        (JEQ, "drop", 0, PACKET_OUTGOING),
        (JEQ, "drop", 0, PACKET_OTHERHOST),
    ]


def own_frames() -> Program:
    """Every IPv6 frame for this node (its MAC, multicast), none it sent itself."""
    return Program(_own())  # falls through to accept


def signalling() -> Program:
    """The frames the automata handle while the kernel carries the data (see the docstring)."""
    ops = _own() + [(LD_B_ABS, 0, 0, ETHER_HEADER + NEXT_HEADER)]
    ops += [(JEQ, "accept", 0, nh) for nh in (MH, DEST_OPTS, ROUTING, HOP_BY_HOP, FRAGMENT)]
    return Program(ops + [
        (JEQ, 0, "drop", ICMPV6),
        (LD_B_ABS, 0, 0, ETHER_HEADER + IPV6_HEADER),  # the ICMPv6 type (no header before it)
        (JGE, 0, "drop", RS),
        (JGT, "drop", "accept", NA),
    ])  # fmt: skip


def _destination(address: str) -> list[Op]:
    """Drop what is not for ``address`` (bytes 24-39 of the IPv6 header, no link header)."""
    words = struct.unpack("!4I", socket.inet_pton(socket.AF_INET6, address))
    ops: list[Op] = []
    for n, word in enumerate(words):
        ops += [(LD_W_ABS, 0, 0, 24 + 4 * n), (JEQ, 0, "drop", word)]
    return ops


def to_address(address: str) -> Program:
    """IPv6 packets to ``address``, but IPv6-in-IPv6 (the data plane's, :func:`tunnelled`)."""
    return Program(_destination(address) + [(LD_B_ABS, 0, 0, NEXT_HEADER), (JEQ, "drop", "accept", IPV6_IN_IPV6)])


def tunnelled(address: str | None, skip: Sequence[int] = ()) -> Program:
    """IPv6-in-IPv6 packets for this host (to ``address`` when given), Next Header 41 or a
    Destination Options header first, arriving on any interface but the indexes in ``skip``."""
    ops: list[Op] = [(LD_W_ABS, 0, 0, SKF_AD_PKTTYPE), (JEQ, 0, "drop", PACKET_HOST), (LD_W_ABS, 0, 0, SKF_AD_IFINDEX)]
    ops += [(JEQ, "drop", 0, index) for index in skip]
    ops += [] if address is None else _destination(address)
    return Program(ops + [
        (LD_B_ABS, 0, 0, NEXT_HEADER),
        (JEQ, "accept", 0, IPV6_IN_IPV6),
        (JEQ, "accept", "drop", DEST_OPTS),
    ])  # fmt: skip
