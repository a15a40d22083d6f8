"""Proxy Mobile IPv6 mobility options (RFC 5213 §8), and the older layout of one implementation.

Theory of operation
-------------------
In PMIPv6 a Mobile Access Gateway (MAG) registers a mobile node at its Local
Mobility Anchor (LMA) on the node's behalf: a Proxy Binding Update (a BU with
the P flag, from the MAG's address, no Home Address option) names the node by a
Mobile Node Identifier (RFC 4283, type 8) and its Home Network Prefixes, and
orders itself by a Timestamp; the LMA answers with a Proxy Binding Ack carrying
the same options (RFC 5213 §5.3, §6.9). Scapy 2.8 knows the MN Identifier; the
others are here, registered for types 22-27 (:data:`PMIP_OPTIONS`)::

    22 Home Network Prefix   Reserved | Prefix Length | Prefix (16)     8n+4   §8.3
    23 Handoff Indicator     Reserved | HI                              -      §8.4
    24 Access Technology     Reserved | ATT                             -      §8.5
    25 MN Link-layer Id      Reserved (2) | Link-layer Identifier       8n+2   §8.6
    26 Link-local Address    Address (16)                               8n+6   §8.7
    27 Timestamp             48-bit seconds since 1970 | 16-bit 1/65536 8n+2   §8.8

Drafts before RFC 5213 used other numbers, and so does the pmip6d daemon of
OpenAirInterface (``pmip_consts.h``, pmipv6-daemon-umip-0.4), seen in real
captures: 7 Home Network Prefix, 8 Mobile Node Identifier as a 2-byte flags word
and an 8-byte interface identifier (:class:`Pmip6dMnIdOpt`), 9 Timestamp,
10 Link-local Address, each with the layout of its RFC counterpart. Those
numbers belong to other options in the IANA registry (7 is RFC 5568's
Link-Layer Address, 9 and 10 RFC 4285's), so they are never registered:
whoever knows a packet is pmip6d's dissects the option bytes with these classes
(:mod:`scapy_fama.analysis.pmip`).
"""

from __future__ import annotations

from typing import Any

from scapy.fields import (
    BitField,
    ByteEnumField,
    ByteField,
    Field,
    FieldLenField,
    IP6Field,
    ShortField,
    XStrFixedLenField,
    XStrLenField,
)
from scapy.layers.inet6 import _MIP6OptAlign

HANDOFF_INDICATORS = {
    0: "Reserved", 1: "Attachment over a new interface", 2: "Handoff between two different interfaces",
    3: "Handoff between mobile access gateways for the same interface", 4: "Handoff state unknown",
    5: "Handoff state not changed (re-registration)",
}  # fmt: skip  (RFC 5213 §8.4)
ACCESS_TECHNOLOGIES = {
    0: "Reserved", 1: "Virtual", 2: "PPP", 3: "IEEE 802.3", 4: "IEEE 802.11a/b/g", 5: "IEEE 802.16e",
}  # fmt: skip  (RFC 5213 §8.5)


def _head(otype: int, olen: int) -> list[Field[Any, Any]]:
    """Type and a fixed Length."""
    return [ByteField("otype", otype), ByteField("olen", olen)]


class HomeNetworkPrefixOpt(_MIP6OptAlign):
    """Home Network Prefix option, RFC 5213 §8.3."""

    name = "Home Network Prefix"
    fields_desc = [*_head(22, 18), ByteField("reserved", 0), ByteField("plen", 64), IP6Field("prefix", "::")]
    x, y = 8, 4


class HandoffIndicatorOpt(_MIP6OptAlign):
    """Handoff Indicator option, RFC 5213 §8.4."""

    name = "Handoff Indicator"
    fields_desc = [*_head(23, 2), ByteField("reserved", 0), ByteEnumField("hi", 1, HANDOFF_INDICATORS)]
    x, y = 0, 0


class AccessTechTypeOpt(_MIP6OptAlign):
    """Access Technology Type option, RFC 5213 §8.5."""

    name = "Access Technology Type"
    fields_desc = [*_head(24, 2), ByteField("reserved", 0), ByteEnumField("att", 4, ACCESS_TECHNOLOGIES)]
    x, y = 0, 0


class MNLinkLayerIdOpt(_MIP6OptAlign):
    """Mobile Node Link-layer Identifier option, RFC 5213 §8.6."""

    name = "Mobile Node Link-layer Identifier"
    fields_desc = [
        ByteField("otype", 25),
        FieldLenField("olen", None, length_of="lli", fmt="B", adjust=lambda pkt, n: n + 2),
        ShortField("reserved", 0),
        XStrLenField("lli", b"", length_from=lambda pkt: max(0, pkt.olen - 2)),
    ]
    x, y = 8, 2


class LinkLocalAddressOpt(_MIP6OptAlign):
    """Link-local Address option, RFC 5213 §8.7."""

    name = "Link-local Address"
    fields_desc = [*_head(26, 16), IP6Field("address", "::")]
    x, y = 8, 6


class TimestampOpt(_MIP6OptAlign):
    """Timestamp option, RFC 5213 §8.8: seconds since 1970-01-01 UTC in 48 bits, 1/65536 in 16."""

    name = "Timestamp"
    fields_desc = [*_head(27, 8), BitField("seconds", 0, 48), ShortField("fraction", 0)]
    x, y = 8, 2

    @property
    def epoch(self) -> float:
        """Seconds since the epoch."""
        return int(self.seconds) + int(self.fraction) / 65536


class Pmip6dMnIdOpt(_MIP6OptAlign):
    """The Mobile Node Identifier as pmip6d 0.4 writes it (type 8, length 10): a flags word and
    the node's 8-byte interface identifier instead of RFC 4283's subtype and identifier."""

    name = "Mobile Node Identifier (pmip6d)"
    fields_desc = [*_head(8, 10), ShortField("flags", 0), XStrFixedLenField("iid", bytes(8), 8)]
    x, y = 0, 0


# Option type -> class, for Scapy's dissection of RFC 5213 options (Scapy 2.8 has type 8)
PMIP_OPTIONS = {
    22: HomeNetworkPrefixOpt,
    23: HandoffIndicatorOpt,
    24: AccessTechTypeOpt,
    25: MNLinkLayerIdOpt,
    26: LinkLocalAddressOpt,
    27: TimestampOpt,
}
