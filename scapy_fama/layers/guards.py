"""Guards against dissection crashes in Scapy 2.8 that fama-fuzz found (RFC 8200 §4, RFC 2675).

Theory of operation
-------------------
Every FAMA tool dissects bytes from the wire with ``IPv6(raw)``; an exception
there is a crash of the DAR, the analyser or the shell. Two Scapy 2.8 methods
read past the end of malformed input; each guard wraps the stock method
(nothing in Scapy's files changes) and gives the answer Scapy gives for the
nearest well-formed input::

    IPv6 | nh 43 | 1-2 bytes          guess_payload_class read p[2]  -> Raw
    IPv6 | plen 0, nh 0 (Hop-by-Hop)  Jumbo option scan ran off the end or cut
         | no whole Jumbo option      its length short             -> no Jumbo option:
                                                                      payload = the HbH header

Both are installed when :mod:`scapy_fama.layers` is imported, idempotently.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from scapy.layers import inet6
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet, Raw

ROUTING, HOP_BY_HOP = 43, 0


def _short_routing(stock: Callable[[Packet, bytes], type[Packet]]) -> Callable[[Packet, bytes], type[Packet]]:
    def default_payload_class(self: Packet, p: bytes) -> type[Packet]:
        if self.nh == ROUTING and len(p) < 3:  # a routing header has at least 8 bytes (RFC 8200 §4.4)
            return Raw
        return stock(self, p)

    default_payload_class.stock = stock  # type: ignore[attr-defined]
    return default_payload_class


def _jumbo(stock: Callable[[IPv6, bytes], tuple[bytes, bytes]]) -> Callable[[IPv6, bytes], tuple[bytes, bytes]]:
    def extract_padding(self: IPv6, data: bytes) -> tuple[bytes, bytes]:
        try:
            return stock(self, data)
        except (IndexError, struct.error):  # only the plen 0 + Hop-by-Hop branch can raise
            size = 8 + data[1] * 8  # what stock returns when it finds no Jumbo option (RFC 2675 §2)
            return data[:size], data[size:]

    extract_padding.stock = stock  # type: ignore[attr-defined]
    return extract_padding


def install_guards() -> None:
    """Wrap the two Scapy methods (idempotent)."""
    guess = inet6._IPv6GuessPayload  # the base of IPv6 and of every extension header class
    if not hasattr(guess.default_payload_class, "stock"):
        guess.default_payload_class = _short_routing(guess.default_payload_class)  # type: ignore[method-assign]
    if not hasattr(IPv6.extract_padding, "stock"):
        IPv6.extract_padding = _jumbo(IPv6.extract_padding)  # type: ignore[method-assign]
