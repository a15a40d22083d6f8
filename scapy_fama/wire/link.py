"""Ethernet framing (RFC 2464) and the addresses of the link layer.

Theory of operation
-------------------
The roles send and receive IPv6 in Ethernet II frames; only the 14-byte
header is of interest here::

    dst MAC(6) | src MAC(6) | EtherType 0x86DD | IPv6 packet

An IPv6 multicast group maps to 33:33 and its last four bytes (RFC 2464 §7);
a solicited-node group is ff02::1:ff and the last three bytes of the address
(RFC 4291 §2.7.1).
"""

from __future__ import annotations

import socket

from scapy_fama.wire.numbers import ETHER_HEADER, ETHERTYPE_IPV6

_ETHERTYPE = ETHERTYPE_IPV6.to_bytes(2, "big")


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ether(dst: bytes, src: bytes, packet: bytes) -> bytes:
    """``packet`` in an Ethernet II frame."""
    return dst + src + _ETHERTYPE + packet


def ipv6_in(frame: bytes) -> bytes | None:
    """The IPv6 packet of an Ethernet frame; None for another EtherType or a runt."""
    if len(frame) <= ETHER_HEADER or frame[12:14] != _ETHERTYPE:
        return None
    return frame[ETHER_HEADER:]


def is_group(mac: bytes) -> bool:
    """A multicast (or broadcast) MAC: the I/G bit of the first byte."""
    return bool(mac[0] & 1)


def group_mac(address: str) -> bytes:
    """The MAC of an IPv6 multicast group (RFC 2464 §7)."""
    return b"\x33\x33" + socket.inet_pton(socket.AF_INET6, address)[12:]


def solicited_node(address: str) -> str:
    """The solicited-node multicast group of ``address`` (RFC 4291 §2.7.1)."""
    tail = socket.inet_pton(socket.AF_INET6, address)[13:]
    return socket.inet_ntop(socket.AF_INET6, bytes.fromhex("ff0200000000000000000001ff") + tail)
