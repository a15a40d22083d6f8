"""Where a Mobility Header sits: its IPv6 header, Home Address option and RH2.

Theory of operation
-------------------
A BU from a visited link is ``IPv6 / DestOpt(PadN, HAO) / MH`` and a BA to it is
``IPv6 / RH2 / MH``; tunnelled signalling nests another IPv6 header. Walking
from the MH up to the nearest IPv6 header finds the addresses the mobility layer
works with (RFC 6275 §6.3, §6.4, §9.3): the home address (HAO, else the source),
the care-of address (the source) and the final destination (RH2, else the
destination).
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy.layers.inet6 import HAO, IPerror6, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, _MobilityHeader
from scapy.packet import Packet


@dataclass(frozen=True)
class MHContext:
    """The headers around one Mobility Header."""

    ip: IPv6
    hao: str | None  # Home Address option value, if any
    rh_final: str | None  # last address of a routing header with segments left, if any
    rh_type: int | None  # type of that routing header

    @property
    def src(self) -> str:
        """Source as the mobility layer sees it (HoA when a HAO is present)."""
        return self.hao or self.ip.src

    @property
    def dst(self) -> str:
        """Final destination (the RH2 home address when present)."""
        return self.rh_final or self.ip.dst


def mh_context(mh: Packet) -> MHContext | None:
    """The IPv6 header, HAO and routing header below ``mh``; None without IPv6."""
    hao: str | None = None
    rh_final: str | None = None
    rh_type: int | None = None
    layer = mh.underlayer
    while layer is not None and not isinstance(layer, IPv6):
        if isinstance(layer, IPv6ExtHdrRouting) and layer.segleft and layer.addresses:
            rh_final, rh_type = layer.addresses[-1], layer.type
        elif isinstance(layer, IPv6ExtHdrDestOpt):
            for opt in layer.options:
                if isinstance(opt, HAO):
                    hao = opt.hoa
        layer = layer.underlayer
    if layer is None:
        return None
    return MHContext(layer, hao, rh_final, rh_type)


def find_mh(pkt: Packet) -> Packet | None:
    """The (first) Mobility Header layer of ``pkt``; not one quoted by an ICMPv6 error
    (RFC 4443 §2.4: the packet it quotes is not a message)."""
    layer: Packet | None = pkt
    while layer is not None and layer.__class__.__name__ != "NoPayload":
        if isinstance(layer, IPerror6):
            return None
        if isinstance(layer, _MobilityHeader):
            return layer
        layer = layer.payload
    return None
