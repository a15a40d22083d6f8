"""The Mobility Header checksum (RFC 6275 §6.1.1) with the right pseudo-header.

Theory of operation
-------------------
The checksum covers a pseudo-header and the whole MH (Header Len bytes, checksum
field zero)::

    pseudo = src(16) | dst(16) | MH length(32) | 0(24) | 135(8)

``src`` is the home address when a Destination Options header carries a Home
Address option (wherever it sits among the options), ``dst`` the home address
of a type 2 routing header: the addresses the mobility layer itself sees after
the HAO swap and RH2 processing. Scapy 2.8 looks at the HAO only when it is the
sole option, so a dissected BU (PadN + HAO) checks against the CoA and fails.
"""

from __future__ import annotations

from scapy.packet import Packet

from scapy_fama.layers.headers import mh_context
from scapy_fama.wire.checksum import mh_checksum


def pseudo_addresses(mh: Packet) -> tuple[str, str] | None:
    """(src, dst) of the pseudo-header for ``mh``, or None without an IPv6 underlayer."""
    ctx = mh_context(mh)
    return None if ctx is None else (ctx.src, ctx.dst)


def wire_mh(mh: Packet) -> bytes:
    """The MH bytes as on the wire: Header Len says how many (payload excluded)."""
    wire = bytes(mh)
    if len(wire) < 2:
        return wire
    return wire[: (wire[1] + 1) * 8]


def checksum_ok(mh: Packet) -> bool:
    """True if the checksum carried by ``mh`` is right for its addresses."""
    addrs = pseudo_addresses(mh)
    wire = wire_mh(mh)
    if addrs is None or len(wire) < 8:
        return False
    return int.from_bytes(wire[4:6], "big") == mh_checksum(wire, *addrs)
