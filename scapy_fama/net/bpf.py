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
                  RS, RA, NS or NA; with ``to=`` addresses (a DAR in kernel mode), the MH and
                  its headers only when the packet is to one of them
    short_bus():  EtherType IPv6, not outgoing nor another host's, and a BU whose Mobility
                  Header is short (see below), the MH right after the IPv6 header or behind one
                  Destination Options header (a HAO's); own_frames(priority=True) and
                  signalling(priority=True) are the same programs but for these frames, so that
                  two sockets on one interface read every frame once; ``to=`` as signalling()'s
    to_address(a): IPv6 packets to ``a`` but IPv6-in-IPv6 (a cooked socket, no Ethernet header)
    tunnelled(a, skip, link): IPv6-in-IPv6 (or behind one Destination Options header, RFC 2473
                  §4.1.1; not a BU's HAO) for this host [to ``a``], on any interface but those of ``skip``
                  (the kernel-mode data plane's, automata/dataplane.py: a cooked socket, or
                  with ``link`` a raw one on Ethernet)

Short BUs are served ahead of CGA work already at the socket (profile §6 DoS guard: "PHKT-
authorised BUs are never queued behind CGA work"; issue 14 item 2). A BU whose Mobility Header
is at most SHORT_BU bytes long (Header Len, RFC 6275 §6.1.1, at most SHORT_BU_HEADER_LEN) has no
room for a Signature option (RFC 4866 §5.2) of the smallest RSA key the DAR verifies, so it
cannot cost an RSA verification (profile §6 "Cost before trust"); a PHKT refresh (§6.1.7:
Nonce Indices and a BAD, §9.2) is about 40 bytes. The MH is found the way classic BPF can
follow a variable offset: the Destination Options header's length into the X register
(``ldb [hdr+1]; add #1; lsh #3; tax``), the MH's bytes read at ``[x+k]``. Anything else is
"not short" and stays with the main socket: a fragment (its MH is not in this frame), a BU
behind any other extension header or behind two of them, and a frame too short to hold the
bytes looked at (classic BPF would drop a frame a load runs past, so the length is checked
first: the frame must reach both sockets' programs whole)::

    ldx #0; ldb [nh]: 135 -> MH at [x+54];  60 -> ldb [54] == 135?, x = 8 * ([55] + 1),
    frame > x + 56?;  ldb [x+56] == 5 (BU)?;  ldb [x+55] (Header Len) <= SHORT_BU_HEADER_LEN?
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Sequence

from scapy_fama.wire.numbers import (
    BU,
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
    OPTIONS_START,
    ROUTING,
    RS,
)

SO_ATTACH_FILTER = 26
LD_W_ABS, LD_H_ABS, LD_B_ABS = 0x20, 0x28, 0x30  # BPF_LD | BPF_W/H/B | BPF_ABS (linux/filter.h)
LD_B_IND, LD_LEN, LDX_IMM = 0x50, 0x80, 0x01  # BPF_LD|BPF_B|BPF_IND, BPF_LD|BPF_W|BPF_LEN, BPF_LDX|BPF_IMM
ADD, SUB, LSH, TAX = 0x04, 0x14, 0x64, 0x07  # BPF_ALU | BPF_ADD/SUB/LSH | BPF_K; BPF_MISC | BPF_TAX
JEQ, JGE, JGT = 0x15, 0x35, 0x25  # BPF_JMP | BPF_JEQ/JGE/JGT | BPF_K
JGE_X = 0x3D  # BPF_JMP | BPF_JGE | BPF_X: A >= X
RET = 0x06  # BPF_RET | BPF_K
SKF_AD_PKTTYPE = -0x1000 + 4  # SKF_AD_OFF + SKF_AD_PKTTYPE
SKF_AD_IFINDEX = -0x1000 + 8  # SKF_AD_OFF + SKF_AD_IFINDEX
PACKET_HOST, PACKET_OTHERHOST, PACKET_OUTGOING = 0, 3, 4
NEXT_HEADER = 6  # byte of the IPv6 header
SIGNATURE_MIN = 2 + 128  # a Signature option (RFC 4866 §5.2) of an RSA-1024 key, proto/authorise.RSA_BITS
SHORT_BU = (OPTIONS_START[BU] + SIGNATURE_MIN - 1) // 8 * 8  # bytes: the longest MH with no room for one (136)
SHORT_BU_HEADER_LEN = SHORT_BU // 8 - 1  # RFC 6275 §6.1.1: in 8-octet units, the first 8 left out

Jump = int | str  # an offset, or a label: "accept", "drop" or one placed among the instructions
Op = tuple[int, Jump, Jump, int]  # code, jump if true, jump if false, k


class Program:
    """An assembled program; it keeps its instructions alive while a socket uses them. A string
    among the instructions is a label: the place of the instruction after it."""

    def __init__(self, ops: Sequence[Op | str]) -> None:
        code: list[Op] = []
        labels: dict[str, int] = {}
        for op in ops:
            if isinstance(op, str):
                labels[op] = len(code)
            else:
                code.append(op)
        code += [(RET, 0, 0, 0x40000), (RET, 0, 0, 0)]  # the whole frame, or nothing
        labels.update(accept=len(code) - 2, drop=len(code) - 1)
        self.instructions = [
            (c, _offset(jt, i, labels), _offset(jf, i, labels), k) for i, (c, jt, jf, k) in enumerate(code)
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


def _short_bu(short: str, other: str) -> list[Op | str]:
    """To ``short`` for a short BU, to ``other`` for any other frame (see the docstring)."""
    first = ETHER_HEADER + IPV6_HEADER  # the first byte after the IPv6 header
    return [
        (LD_LEN, 0, 0, 0),
        (JGE, 0, other, first + 3),  # room for an MH's Payload Proto, Header Len and MH Type
        (LDX_IMM, 0, 0, 0),  # X: bytes between the IPv6 header and the MH
        (LD_B_ABS, 0, 0, ETHER_HEADER + NEXT_HEADER),
        (JEQ, "mh", 0, MH),
        (JEQ, 0, other, DEST_OPTS),
        (LD_B_ABS, 0, 0, first),  # the Destination Options header's Next Header
        (JEQ, 0, other, MH),
        (LD_B_ABS, 0, 0, first + 1),  # its Hdr Ext Len: X = 8 * (Hdr Ext Len + 1), RFC 8200 §4.6
        (ADD, 0, 0, 1),
        (LSH, 0, 0, 3),
        (TAX, 0, 0, 0),
        (LD_LEN, 0, 0, 0),
        (SUB, 0, 0, first + 3),
        (JGE_X, 0, other, 0),  # the frame holds the MH's first three bytes
        "mh",
        (LD_B_IND, 0, 0, first + 2),  # MH Type
        (JEQ, 0, other, BU),
        (LD_B_IND, 0, 0, first + 1),  # Header Len
        (JGT, other, short, SHORT_BU_HEADER_LEN),
    ]


def own_frames(priority: bool = False) -> Program:
    """Every IPv6 frame for this node (its MAC, multicast), none it sent itself; with
    ``priority``, but the short BUs that a second socket reads (:func:`short_bus`)."""
    return Program(_own() + (_short_bu("drop", "accept") if priority else []))  # falls through to accept


def short_bus(to: Sequence[str] = ()) -> Program:
    """This node's short BUs: the frames a priority socket reads (see the docstring); with
    ``to``, only those to one of these addresses."""
    if not to:
        return Program(_own() + _short_bu("accept", "drop"))
    return Program([*_own(), *_short_bu("short", "drop"), "short", *_destination(to, ETHER_HEADER)])


def signalling(priority: bool = False, to: Sequence[str] = ()) -> Program:
    """The frames the automata handle while the kernel carries the data (see the docstring);
    with ``priority``, but the short BUs, as :func:`own_frames`. With ``to``, a Mobility Header
    (or a header that may carry one) only when the packet is to one of these addresses: a DAR's
    kernel forwards the rest, and its automaton would only wake to drop them (the access DAR
    saw every BU its MNs sent to their other DARs); ND and RS/RA are kept whatever their
    destination (solicited-node multicast, the neighbour cache)."""
    ops: list[Op | str] = [*_own(), *(_short_bu("drop", "signalling") + ["signalling"] if priority else [])]
    mh = "mine" if to else "accept"
    ops += [(LD_B_ABS, 0, 0, ETHER_HEADER + NEXT_HEADER)]
    ops += [(JEQ, mh, 0, nh) for nh in (MH, DEST_OPTS, ROUTING, HOP_BY_HOP, FRAGMENT)]
    ops += [
        (JEQ, 0, "drop", ICMPV6),
        (LD_B_ABS, 0, 0, ETHER_HEADER + IPV6_HEADER),  # the ICMPv6 type (no header before it)
        (JGE, 0, "drop", RS),
        (JGT, "drop", "accept", NA),
    ]
    return Program(ops + (["mine", *_destination(to, ETHER_HEADER)] if to else []))


def _destination(addresses: Sequence[str], at: int) -> list[Op | str]:
    """Drop what is not to one of ``addresses`` (bytes 24-39 of the IPv6 header at ``at``),
    go on after these instructions with the rest."""
    ops: list[Op | str] = []
    for n, address in enumerate(addresses):
        words = struct.unpack("!4I", socket.inet_pton(socket.AF_INET6, address))
        miss = f"not-{n}" if n + 1 < len(addresses) else "drop"
        for i, word in enumerate(words):
            ops += [(LD_W_ABS, 0, 0, at + 24 + 4 * i), (JEQ, "to" if i == 3 else 0, miss, word)]
        if n + 1 < len(addresses):
            ops.append(miss)
    return ops + ["to"]


def to_address(address: str) -> Program:
    """IPv6 packets to ``address``, but IPv6-in-IPv6 (the data plane's, :func:`tunnelled`)."""
    return Program(_destination([address], 0) + [(LD_B_ABS, 0, 0, NEXT_HEADER), (JEQ, "drop", "accept", IPV6_IN_IPV6)])


def tunnelled(address: str | None, skip: Sequence[int] = (), link: int = 0) -> Program:
    """IPv6-in-IPv6 packets for this host (to ``address`` when given), Next Header 41 or a
    Destination Options header (RFC 2473 §4.1.1's Tunnel Encapsulation Limit) whose own Next
    Header is 41, arriving on any interface but the indexes in ``skip``; with ``link``
    (ETHER_HEADER: a SOCK_RAW socket on Ethernet), EtherType IPv6 first. A BU's HAO is a
    Destination Options header too, before the MH (135): it stays with the automaton, and the
    data plane's thread is not woken, to throw it away, as the BU arrives."""
    ops: list[Op | str] = [(LD_W_ABS, 0, 0, SKF_AD_PKTTYPE), (JEQ, 0, "drop", PACKET_HOST)]
    ops += [(LD_W_ABS, 0, 0, SKF_AD_IFINDEX)] if skip else []
    ops += [(JEQ, "drop", 0, index) for index in skip]
    ops += [(LD_H_ABS, 0, 0, link - 2), (JEQ, 0, "drop", ETHERTYPE_IPV6)] if link else []
    ops += [] if address is None else _destination([address], link)
    return Program(ops + [
        (LD_B_ABS, 0, 0, link + NEXT_HEADER),
        (JEQ, "accept", 0, IPV6_IN_IPV6),
        (JEQ, 0, "drop", DEST_OPTS),
        (LD_B_ABS, 0, 0, link + IPV6_HEADER),  # the Destination Options header's Next Header
        (JEQ, "accept", "drop", IPV6_IN_IPV6),
    ])  # fmt: skip
