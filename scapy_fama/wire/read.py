"""The reader: one walk over an IPv6 packet's bytes, for every hot path.

Theory of operation
-------------------
Full Scapy dissection costs about 0.3 ms a packet; a DAR answering a BU flood,
an analyser reading millions of packets or a fuzzer needs a few fields.
:func:`parse` walks the extension-header chain once (Hop-by-Hop, Destination
Options with a Home Address option, type 2 Routing, Fragment) and stops at the
first upper layer::

    IPv6 | 0 / 60 (HAO) / 43 (RH2) / 44 ... | 135 MH       -> mh: type, fields, option TLVs
                                            | 41 IPv6 ...  -> tunnel: inner packet at ``upper``
                                            | 58 / 17 ...  -> proto, upper offset

The framing is checked first and cheaply (profile §6 "Cost before trust"): the
Payload Length against the bytes carried (bytes beyond it, e.g. Ethernet
padding, are not part of the packet), each header's length, and at most
:data:`~scapy_fama.wire.numbers.MAX_OPTIONS` option TLVs are walked, so a
packet of 1,400 Pad1 options costs no more than one of 64.

It never raises on malformed input: what cannot be read is reported in
``problem`` (the packet) or ``MHInfo.malformed`` (the Mobility Header), and
reading stops there. Tests check it against the Scapy layers packet by packet
on every corpus (``tests/test_wire.py``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from functools import lru_cache

from scapy_fama.wire.numbers import (
    BA,
    BE,
    BU,
    DEST_OPTS,
    EXTENSION_HEADERS,
    FRAGMENT,
    FRAGMENT_HEADER,
    HAO,
    HAO_LEN,
    HOP_BY_HOP,
    IPV6_HEADER,
    IPV6_IN_IPV6,
    MAX_OPTIONS,
    MH,
    MH_COMMON,
    OPT_PAD1,
    OPT_PADN,
    OPTIONS_START,
    ROUTING,
    ROUTING_TYPE_2,
    UDP,
)

_KNOWN_OPTIONS = {HOP_BY_HOP: {OPT_PAD1, OPT_PADN, 0x05, 0xC2}, DEST_OPTS: {OPT_PAD1, OPT_PADN, HAO}}


def addr(buf: bytes, off: int) -> str:
    """The IPv6 address at ``buf[off:off + 16]``, as text."""
    return socket.inet_ntop(socket.AF_INET6, buf[off : off + 16])


@lru_cache(maxsize=4096)  # a role hears the same few peers: its own addresses, its MNs' CoAs
def peer(address: bytes) -> str:
    """The text of 16 address bytes a role meets again and again (:func:`addr`, memoised)."""
    return socket.inet_ntop(socket.AF_INET6, address)


@dataclass
class MHInfo:
    """The Mobility Header fields hot paths need; ``options`` are (type, MH offset, data length)."""

    offset: int  # of the MH in the packet
    length: int  # 8 * (Header Len + 1)
    mhtype: int
    payload_proto: int
    checksum: int
    seq: int | None = None  # BU, BA
    status: int | None = None  # BA, BE
    flags: int | None = None  # BU: the 16-bit flags word; BA: the flag byte
    lifetime_units: int | None = None  # BU, BA: 4-second units (proto.messages converts)
    options: list[tuple[int, int, int]] = field(default_factory=list)
    malformed: str | None = None  # options that do not tile the MH, too many of them, ...

    @property
    def header_len(self) -> int:
        return self.length // 8 - 1


@dataclass(frozen=True)
class Fragment:
    """A Fragment header (RFC 8200 §4.5) and where it sits."""

    offset: int  # of the Fragment header in the packet
    next_header: int
    fragment_offset: int  # in bytes
    more: bool
    identification: int


@dataclass
class WireInfo:
    """What :func:`parse` found in one IPv6 packet."""

    src: str
    dst: str
    hlim: int
    payload_length: int
    hoa: str | None = None
    rh2: str | None = None
    rh2_segments_left: int = 0
    ext: list[int] = field(default_factory=list)  # extension headers walked, in order
    proto: int | None = None  # upper-layer protocol number where the chain ended
    upper: int | None = None  # offset of that upper layer
    end: int = 0  # where the packet ends: 40 + Payload Length, or the bytes carried if fewer
    mh: MHInfo | None = None
    fragment: Fragment | None = None  # a (non-atomic) fragment: the chain stops there
    unknown_option: tuple[int, int] | None = None  # (option type, packet offset) acted on (RFC 8200 §4.2)
    problem: str | None = None

    @property
    def tunnelled(self) -> bool:
        return self.proto == IPV6_IN_IPV6

    @property
    def pseudo_src(self) -> str:
        """The source the upper layer sees: the Home Address option's (RFC 6275 §9.3.1)."""
        return self.hoa or self.src

    @property
    def pseudo_dst(self) -> str:
        """The destination the upper layer sees: the type 2 routing header's (RFC 6275 §9.4.5)."""
        return self.rh2 if self.rh2 is not None and self.rh2_segments_left else self.dst


def _options(buf: bytes, info: WireInfo, nh: int, off: int, end: int) -> None:
    """Walk a Hop-by-Hop or Destination Options header: the HAO, the first unknown option
    whose action bits say to discard the packet (RFC 8200 §4.2)."""
    known = _KNOWN_OPTIONS[nh]
    pos = off + 2
    while pos < end:
        otype = buf[pos]
        if otype == OPT_PAD1:
            pos += 1
            continue
        if pos + 2 > end:
            return
        olen = buf[pos + 1]
        if nh == DEST_OPTS and otype == HAO:
            if olen == HAO_LEN and pos + 18 <= end:
                info.hoa = addr(buf, pos + 2)
            else:
                info.problem = info.problem or f"Home Address option of length {olen} (RFC 6275 §6.3: 16)"
        elif otype not in known and otype >> 6 and info.unknown_option is None:
            info.unknown_option = (otype, pos)
        pos += 2 + olen


def _mh_options(buf: bytes, mh: MHInfo, start: int, end: int) -> None:
    pos = start
    out = mh.options
    while pos < end:
        if len(out) == MAX_OPTIONS:
            mh.malformed = f"more than {MAX_OPTIONS} options (profile §6)"
            return
        otype = buf[pos]
        if otype == 0:
            out.append((0, pos - mh.offset, 0))
            pos += 1
            continue
        if pos + 2 > end:
            mh.malformed = f"option type {otype} at MH offset {pos - mh.offset} has no Length byte"
            return
        olen = buf[pos + 1]
        out.append((otype, pos - mh.offset, olen))
        pos += 2 + olen
    if pos > end:
        mh.malformed = f"the last option runs {pos - end} bytes past the {mh.length}-byte MH"


def _mh(buf: bytes, off: int, info: WireInfo) -> None:
    end = info.end
    if off + MH_COMMON > end:
        info.problem = "MH cut short"
        return
    proto, hlen, mhtype, _, cksum = buf[off], buf[off + 1], buf[off + 2], buf[off + 3], buf[off + 4] << 8 | buf[off + 5]
    length = 8 * (hlen + 1)
    mh = MHInfo(off, length, mhtype, proto, cksum)
    info.mh = mh
    if off + length > end:
        info.problem = f"MH of {length} bytes, {end - off} carried"
    # the fixed fields are read wherever the packet has them, even past a Header Len too
    # short for them (ns-3 writes 0): the checks of profile §6 step 1 refuse such a message,
    # a lenient reader still wants its content
    if mhtype == BU and off + 12 <= end:  # RFC 6275 §6.1.7
        mh.seq = buf[off + 6] << 8 | buf[off + 7]
        mh.flags = buf[off + 8] << 8 | buf[off + 9]
        mh.lifetime_units = buf[off + 10] << 8 | buf[off + 11]
    elif mhtype == BA and off + 12 <= end:  # §6.1.8
        mh.status, mh.flags = buf[off + 6], buf[off + 7]
        mh.seq = buf[off + 8] << 8 | buf[off + 9]
        mh.lifetime_units = buf[off + 10] << 8 | buf[off + 11]
    elif mhtype == BE and off + 8 <= end:  # §6.1.9
        mh.status = buf[off + 6]
    start, end = OPTIONS_START.get(mhtype), min(off + length, end)
    if start is not None and off + start <= end:
        _mh_options(buf, mh, off + start, end)


def parse(buf: bytes) -> WireInfo | None:
    """Read one IPv6 packet; None if ``buf`` is not IPv6 (too short, wrong version)."""
    if len(buf) < IPV6_HEADER or buf[0] >> 4 != 6:
        return None
    plen, nh, hlim = buf[4] << 8 | buf[5], buf[6], buf[7]
    info = WireInfo(addr(buf, 8), addr(buf, 24), hlim, plen)
    info.end = min(IPV6_HEADER + plen, len(buf))
    if IPV6_HEADER + plen > len(buf):
        info.problem = f"Payload Length {plen}, {len(buf) - IPV6_HEADER} bytes carried"
    end, off = info.end, IPV6_HEADER
    while nh in EXTENSION_HEADERS:
        if off + 8 > end:
            info.problem = f"extension header {nh} cut short"
            return info
        info.ext.append(nh)
        next_nh = buf[off]
        size = FRAGMENT_HEADER if nh == FRAGMENT else 8 * (buf[off + 1] + 1)
        if off + size > end:
            info.problem = f"extension header {nh} of {size} bytes cut short"
            return info
        if nh in (HOP_BY_HOP, DEST_OPTS):
            _options(buf, info, nh, off, off + size)
        elif nh == ROUTING and buf[off + 2] == ROUTING_TYPE_2 and buf[off + 1] == 2:  # RFC 6275 §6.4
            info.rh2, info.rh2_segments_left = addr(buf, off + 8), buf[off + 3]
        elif nh == ROUTING and buf[off + 3]:  # RFC 8200 §4.4: a type we do not route, still to go
            info.problem = info.problem or f"routing header type {buf[off + 2]} with Segments Left {buf[off + 3]}"
        elif nh == FRAGMENT:
            word = buf[off + 2] << 8 | buf[off + 3]
            ident = int.from_bytes(buf[off + 4 : off + 8], "big")
            frag = Fragment(off, next_nh, word & 0xFFF8, bool(word & 1), ident)
            if frag.fragment_offset or frag.more:  # RFC 8200 §4.5; an atomic fragment reads on (RFC 6946)
                info.fragment, info.proto, info.upper = frag, FRAGMENT, off
                return info
        nh, off = next_nh, off + size
    info.proto, info.upper = nh, off
    if nh == MH:
        _mh(buf, off, info)
    return info


def udp(buf: bytes, info: WireInfo) -> tuple[int, int, bytes] | None:
    """(source port, destination port, payload) of the UDP datagram at ``info.upper``."""
    off, end = info.upper, info.end
    if info.proto != UDP or off is None or off + 8 > end:
        return None
    length = buf[off + 4] << 8 | buf[off + 5]
    stop = min(off + length, end) if length >= 8 else end
    return buf[off] << 8 | buf[off + 1], buf[off + 2] << 8 | buf[off + 3], bytes(buf[off + 8 : stop])
