"""The Internet checksum over an IPv6 pseudo-header (RFC 8200 §8.1), for MH, ICMPv6 and UDP.

Theory of operation
-------------------
The one's complement sum of 16-bit words equals the whole byte string read as
one big number modulo 0xFFFF (2^16 = 1 mod 0xFFFF), except that a non-zero sum
is 0xFFFF rather than 0; one ``int.from_bytes`` and one ``%`` replace a loop
over the words::

    pseudo = src(16) | dst(16) | upper-layer length(32) | 0(24) | next header(8)
    checksum = ~(one's complement sum of pseudo | data with its checksum field zero)

The Mobility Header's pseudo-header uses the addresses the mobility layer sees
(RFC 6275 §6.1.1): the Home Address option's address as source, the type 2
routing header's address as destination.
"""

from __future__ import annotations

from scapy_fama.crypto import addr_bytes
from scapy_fama.wire.numbers import ICMPV6, MH, UDP


def internet_checksum(data: bytes) -> int:
    """RFC 1071 checksum of ``data`` (padded with a zero byte to an even length)."""
    if len(data) & 1:
        data += b"\0"
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF
    return 0xFFFF - total


def pseudo_header(src: str, dst: str, length: int, next_header: int) -> bytes:
    return addr_bytes(src) + addr_bytes(dst) + length.to_bytes(4, "big") + bytes((0, 0, 0, next_header))


def upper_checksum(data: bytes, src: str, dst: str, next_header: int, field: int) -> int:
    """The checksum of an upper-layer ``data`` whose checksum sits at byte ``field``."""
    body = data[:field] + b"\0\0" + data[field + 2 :]
    return internet_checksum(pseudo_header(src, dst, len(body), next_header) + body)


def mh_checksum(mh_bytes: bytes, src: str, dst: str) -> int:
    """RFC 6275 §6.1.1: the Mobility Header's checksum (field at byte 4, taken as zero)."""
    return upper_checksum(mh_bytes, str(src), str(dst), MH, 4)


def icmpv6_checksum(data: bytes, src: str, dst: str) -> int:
    """RFC 4443 §2.3 (field at byte 2)."""
    return upper_checksum(data, src, dst, ICMPV6, 2)


def udp_checksum(data: bytes, src: str, dst: str) -> int:
    """RFC 8200 §8.1 (field at byte 6); a computed 0 is sent as 0xFFFF (RFC 768)."""
    return upper_checksum(data, src, dst, UDP, 6) or 0xFFFF
