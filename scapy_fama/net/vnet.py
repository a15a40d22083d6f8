"""The virtio_net_hdr in front of every packet of a TUN (IFF_VNET_HDR) and a packet socket (PACKET_VNET_HDR).

Theory of operation
-------------------
A packet the kernel has not finished may reach the MN: a DAR's kernel tunnel
entry (:mod:`scapy_fama.net.lwt`) sends TCP super-packets (GSO, up to 64 KB,
marked IPv6-in-IPv6) and packets whose TCP checksum is only partial (the
pseudo-header's sum, to be completed over ``csum_start`` .. end), and the veths
carry them as they are. A packet socket with ``PACKET_VNET_HDR`` says so in a
10-byte header before each packet, and a TUN opened with ``IFF_VNET_HDR`` takes
the same header with each packet written, so the inner packet goes on unfinished
and the kernel finishes it, or its TCP takes the super-packet whole as it takes
one from GRO (``struct virtio_net_hdr``, include/uapi/linux/virtio_net.h,
little-endian on this host)::

    flags u8 | gso_type u8 | hdr_len u16 | gso_size u16 | csum_start u16 | csum_offset u16

Decapsulating takes ``upper`` bytes off the front, so :func:`inner` moves the
offsets that count from the packet's start (``csum_start``, ``hdr_len``) by as
much. ``VIRTIO_NET_HDR_F_DATA_VALID`` (the outer packet's checksums were
checked) says nothing of the inner one: it is cleared, and the kernel checks.
A TUN without offloads (no ``TUNSETOFFLOAD``) only ever hands whole packets, so
what precedes a packet read from it is not looked at.
"""

from __future__ import annotations

import struct

VNET_HEADER = 10  # sizeof(struct virtio_net_hdr)
PLAIN = bytes(VNET_HEADER)  # a whole packet, its checksums to be checked by the kernel
NEEDS_CSUM = 0x01  # VIRTIO_NET_HDR_F_NEEDS_CSUM
PACKET_VNET_HDR = 15  # linux/if_packet.h (SOL_PACKET option)
IFF_VNET_HDR = 0x4000  # linux/if_tun.h
_HEADER = struct.Struct("<BBHHHH")


def inner(header: bytes | memoryview, upper: int) -> bytes | None:
    """The header of the packet that starts ``upper`` bytes into the one ``header`` describes;
    None when its checksum would start before it (a header no kernel would have made)."""
    flags, gso_type, hdr_len, gso_size, csum_start, csum_offset = _HEADER.unpack(header)
    if flags & NEEDS_CSUM:
        if csum_start < upper:
            return None
        csum_start -= upper
    return _HEADER.pack(flags & NEEDS_CSUM, gso_type, max(0, hdr_len - upper), gso_size, csum_start, csum_offset)
