"""Type 2 Routing Header and BU/BA request-reply matching (RFC 6275 §6.4, §9.5.4).

Theory of operation
-------------------
A BA to a mobile node travels ``IPv6(src=DAR, dst=CoA) / RH2(HoA) / BA`` and answers
``IPv6(src=CoA, dst=DAR) / DestOpt(HAO=HoA) / BU``. Scapy pairs replies with
requests in two steps, ``hashret()`` then ``answers()``; in Scapy 2.8 both fail
for this pair:

* ``IPv6.hashret`` XORs the RH2 address with itself, so the reply hashes on
  ``::`` instead of the HoA the BU's HAO gave;
* a routing header's ``answers`` compares it with the request's DestOpt header
  and gives up.

:class:`RH2` (registered for every dissected routing header of type 2) passes
``answers`` down to the BA once the home addresses agree, and :func:`install_rh2_hashret` makes
``IPv6.hashret`` use the RH2 home address as the final destination (RFC 6275 §6.4),
leaving every other packet to Scapy's own method.
"""

from __future__ import annotations

import socket
from typing import Any, Callable

from scapy.config import conf
from scapy.fields import ByteField
from scapy.layers.inet6 import IPv6, IPv6ExtHdrRouting, in6_ismaddr
from scapy.packet import Packet
from scapy.utils import strxor

from scapy_fama.layers.headers import mh_context


class RH2(IPv6ExtHdrRouting):
    """Type 2 Routing Header carrying one home address (RFC 6275 §6.4)."""

    name = "Type 2 Routing Header"
    match_subclass = True
    fields_desc = [
        f if f.name not in ("type", "segleft") else ByteField(f.name, 2 if f.name == "type" else 1)
        for f in IPv6ExtHdrRouting.fields_desc
    ]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        if _pkt and len(_pkt) > 2 and _pkt[2] != 2:
            return IPv6ExtHdrRouting
        return cls

    def answers(self, other: Packet) -> int:
        # RFC 6275 §9.5.4: the RH2 of a reply holds the home address of the request's HAO
        ctx = mh_context(other)
        if ctx is not None and ctx.hao is not None and self.addresses:
            if socket.inet_pton(socket.AF_INET6, ctx.hao) != socket.inet_pton(socket.AF_INET6, self.addresses[-1]):
                return 0
        return self.payload.answers(other)


def _rh2_hashret(stock: Callable[[IPv6], bytes]) -> Callable[[IPv6], bytes]:
    def hashret(self: IPv6) -> bytes:
        rh = self.payload
        if not (self.nh == 43 and isinstance(rh, IPv6ExtHdrRouting) and rh.type == 2 and rh.addresses):
            return stock(self)
        final_dst = rh.addresses[-1]
        if conf.checkIPsrc and conf.checkIPaddr and not in6_ismaddr(final_dst):
            sd = socket.inet_pton(socket.AF_INET6, final_dst)
            ss = socket.inet_pton(socket.AF_INET6, self.src)
            return strxor(sd, ss) + bytes((rh.nh,)) + rh.payload.hashret()
        return bytes((rh.nh,)) + rh.payload.hashret()

    hashret.stock = stock  # type: ignore[attr-defined]
    return hashret


def install_rh2_hashret() -> None:
    """Make ``IPv6.hashret`` treat the RH2 address as the final destination (idempotent)."""
    if not hasattr(IPv6.hashret, "stock"):
        IPv6.hashret = _rh2_hashret(IPv6.hashret)  # type: ignore[method-assign]

