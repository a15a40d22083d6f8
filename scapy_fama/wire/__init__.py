"""The one byte model of the packets FAMA's roles exchange: numbers, reader, layout, writer.

Theory of operation
-------------------
Everything that reads or writes IPv6 / Mobility Header bytes by hand lives in
this package, and nowhere else (DESIGN.md "one home per fact"); it imports
nothing but :mod:`scapy_fama.crypto` and the standard library::

    numbers   every wire number: protocols, MH and option types, sizes, alignment
    read      parse(): the extension-header chain, the MH fixed fields and option TLVs
    layout    where options go (alignment, padding, CGA pieces) and the placement rules
    write     IPv6 / HAO / RH2 / MH bytes, MhFrame and finish(): Signature, BAD, checksum;
              sealed(): the same in one pass for a message with nothing to sign
    refresh   a PHKT refresh foreseen: a BU and its BA as bytes, but for seq, BAD and checksum
    icmpv6    Neighbour Discovery and ICMPv6 errors, read and written
    link      Ethernet framing and link-layer addresses
    checksum  the Internet checksum over the IPv6 pseudo-header

The Scapy layers (:mod:`scapy_fama.layers`) describe the same bytes for people
and for Scapy's tools; tests hold the two to the same answers on every corpus.
"""

from __future__ import annotations

from scapy_fama.wire.checksum import mh_checksum
from scapy_fama.wire.read import Fragment, MHInfo, WireInfo, parse, udp
from scapy_fama.wire.write import (
    MhFrame,
    finish,
    finish_bytes,
    frame_of,
    mobility,
    udp_packet,
)

__all__ = [
    "Fragment",
    "MHInfo",
    "MhFrame",
    "WireInfo",
    "finish",
    "finish_bytes",
    "frame_of",
    "mh_checksum",
    "mobility",
    "parse",
    "udp",
    "udp_packet",
]
