"""Streamed reading of pcap and pcapng files: records in, IPv6 bytes out, memory flat in file size.

Theory of operation
-------------------
A capture is read in blocks of :data:`BLOCK` bytes; records are cut from the
block with precompiled :mod:`struct` formats and the link-layer header is
stripped, so each record costs a few hundred nanoseconds and the file is never
held in memory::

    file --read(BLOCK)--> buffer --record header--> (time, frame bytes, interface)
                                                      |  link layer: Raw IP / IPv6 (101, 229, 12, 14),
                                                      |  Ethernet (+ one 802.1Q tag), Linux SLL/SLL2,
                                                      v  BSD loopback (0, 108)
                                                    (number, time, ip, capture point, file index)

This is the one place besides :mod:`scapy_fama.wire` that reads bytes by hand,
and it reads only record framing and link-layer headers: the IPv6 content goes
through ``wire.parse``. ``ip`` is None for a frame that carries no IPv6 (IPv4,
ARP, an unknown link type).

pcap: both byte orders, micro- and nanosecond magics; the link type's upper
bits (FCS length, RFC draft "pcap" §8) are masked off. pcapng: Section Header,
Interface Description (link type, ``if_name``, ``if_tsresol``), Enhanced and
Simple Packet blocks, several sections and byte orders; other blocks are
skipped. Each pcapng interface is its own capture point (vantage); a pcap file
has one.

Errors: a file that is not a capture (wrong magic, shorter than its header)
raises :class:`CaptureError` before any frame. A file cut short in a record
ends the iteration cleanly and sets :attr:`CaptureReader.truncated` to a
sentence saying where, so the caller can report the results up to the break.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

BLOCK = 1 << 20
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
BYTE_ORDER_MAGIC = 0x1A2B3C4D
LINKTYPE_MASK = 0x03FFFFFF  # the upper bits carry the FCS length
IPV6_RAW = {12, 14, 101, 229}  # Raw IP (two historical numbers), LINKTYPE_RAW, LINKTYPE_IPV6
ETHERNET, LINUX_SLL, LINUX_SLL2, NULL, LOOP = 1, 113, 276, 0, 108
BSD_AF_INET6 = {24, 28, 30}  # AF_INET6 on the BSDs, macOS, FreeBSD
ETH_IPV6, ETH_VLAN = b"\x86\xdd", b"\x81\x00"


class CaptureError(ValueError):
    """The file is not a capture this reader understands."""


# One record: (number in the file, 1-based as tshark counts; time in seconds; the IPv6 bytes or
# None; capture point; file index). A plain tuple: a NamedTuple costs 0.9 µs a frame.
Frame = tuple[int, float, "bytes | None", int, int]
VANTAGES_PER_FILE = 1000  # capture point = file index * this + pcapng interface index


@dataclass
class Interface:
    """A capture point of a file: its name (pcapng ``if_name``) and link type."""

    name: str
    linktype: int
    resolution: float = 1e-6


def ipv6_of(linktype: int, data: bytes) -> bytes | None:
    """The IPv6 packet in a frame of ``linktype``, or None when there is none."""
    if linktype in IPV6_RAW:
        return data
    if linktype == ETHERNET:
        kind = data[12:14]
        if kind == ETH_IPV6:
            return data[14:]
        if kind == ETH_VLAN and data[16:18] == ETH_IPV6:
            return data[18:]
        return None
    if linktype == LINUX_SLL:
        return data[16:] if data[14:16] == ETH_IPV6 else None
    if linktype == LINUX_SLL2:
        return data[20:] if data[0:2] == ETH_IPV6 else None
    if linktype in (NULL, LOOP) and len(data) >= 4:
        families = {int.from_bytes(data[:4], "little"), int.from_bytes(data[:4], "big")}  # host byte order
        return data[4:] if families & BSD_AF_INET6 else None
    return None


class CaptureReader:
    """Frames of one pcap or pcapng file, read in blocks (``with`` closes the file)."""

    def __init__(self, path: str | Path, file_index: int = 0) -> None:
        self.path = Path(path)
        self.file_index = file_index
        self._vantage = file_index * VANTAGES_PER_FILE
        self.size = self.path.stat().st_size
        self.position = 0  # bytes consumed so far, for progress bars
        self.truncated: str | None = None
        self.interfaces: list[Interface] = []
        self._file: BinaryIO = self.path.open("rb")
        head = self._file.read(4)
        if len(head) < 4:
            self._file.close()
            raise CaptureError(f"{self.path}: {len(head)} bytes, not a pcap or pcapng file")
        self.pcapng = head == PCAPNG_SHB
        if not self.pcapng and head not in PCAP_MAGICS:
            self._file.close()
            raise CaptureError(f"{self.path}: not a pcap or pcapng file (magic {head.hex()})")
        self._head = head

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[Frame]:
        return self._pcapng_frames() if self.pcapng else self._pcap_frames()

    def _cut(self, what: str, number: int) -> None:
        self.truncated = f"{self.path.name}: cut short in {what} of frame {number} at byte {self.position}"

    # ---------------------------------------------------------------- pcap

    def _pcap_frames(self) -> Iterator[Frame]:
        order, unit = PCAP_MAGICS[self._head]
        rest = self._file.read(20)
        if len(rest) < 20:
            raise CaptureError(f"{self.path}: pcap header cut short ({4 + len(rest)} of 24 bytes)")
        linktype = struct.unpack(order + "I", rest[16:20])[0] & LINKTYPE_MASK
        self.interfaces.append(Interface(self.path.stem, linktype & 0xFFFF, unit))
        self.position = 24
        record = struct.Struct(order + "IIII").unpack_from
        buf, at, number, done = b"", 0, 0, 24  # done: file offset of buf[0]
        linktype &= 0xFFFF
        raw, ethernet = linktype in IPV6_RAW, linktype == ETHERNET
        vantage, tag = self._vantage, self.file_index
        while True:
            if len(buf) - at < 16:
                done += at
                buf = buf[at:] + self._file.read(BLOCK)
                at = 0
                self.position = done
                if not buf:
                    return
                if len(buf) < 16:
                    self._cut("the record header", number + 1)
                    return
            sec, frac, caplen, _ = record(buf, at)
            end = at + 16 + caplen
            if end > len(buf):
                done += at
                buf = buf[at:] + self._file.read(max(BLOCK, caplen + 16))
                at, end = 0, 16 + caplen
                self.position = done
                if end > len(buf):
                    self.position += len(buf)
                    self._cut("the packet data", number + 1)
                    return
            number += 1
            if raw:
                ip = buf[at + 16 : end]
            elif ethernet and buf[at + 28 : at + 30] == ETH_IPV6:  # the common case, without a call
                ip = buf[at + 30 : end]
            else:
                ip = ipv6_of(linktype, buf[at + 16 : end])
            at = end
            yield number, sec + frac * unit, ip, vantage, tag

    # ---------------------------------------------------------------- pcapng

    def _blocks(self) -> Iterator[tuple[int, bytes, str]]:
        """(block type, body, byte order) of every block; stops with ``truncated`` set when cut."""
        head = self._head
        order = "<"
        number = 0
        while True:
            if head is None:
                head = self._file.read(4)
                if not head:
                    return
            rest = self._file.read(8)
            if len(head) + len(rest) < 12:
                self._cut("a block header", number + 1)
                return
            if head == PCAPNG_SHB:
                order = "<" if struct.unpack("<I", rest[4:8])[0] == BYTE_ORDER_MAGIC else ">"
            btype = struct.unpack(order + "I", head)[0]
            length = struct.unpack(order + "I", rest[:4])[0]
            if length < 12 or length % 4:
                if head == PCAPNG_SHB and not self.interfaces and number == 0:
                    raise CaptureError(f"{self.path}: pcapng section header with length {length}")
                self._cut(f"a block of impossible length {length}", number + 1)
                return
            body = rest[4:] + self._file.read(length - 12)
            if len(body) < length - 12 + 4:
                self.position += 8 + len(body)
                self._cut("a block", number + 1)
                return
            self.position += length
            if btype in (6, 3):
                number += 1
            yield btype, body[: length - 12], order
            head = None

    def _pcapng_frames(self) -> Iterator[Frame]:
        epb = {"<": struct.Struct("<IIIII"), ">": struct.Struct(">IIIII")}
        section: list[tuple[Interface, int]] = []  # this section's interfaces, with their file-wide index
        number = 0
        for btype, body, order in self._blocks():
            if btype == 0x0A0D0D0A:
                section = []
            elif btype == 1:
                section.append((self._interface(body, order, len(self.interfaces)), len(self.interfaces)))
                self.interfaces.append(section[-1][0])
            elif btype in (6, 3):
                if btype == 6:
                    iface, high, low, caplen, _ = epb[order].unpack_from(body)
                    data = body[20 : 20 + caplen]
                else:
                    iface, high, low = 0, 0, 0
                    data = body[4 : 4 + struct.unpack_from(order + "I", body)[0]]
                if iface >= len(section):
                    raise CaptureError(f"{self.path}: frame {number + 1} names interface {iface}, not described")
                info, index = section[iface]
                number += 1
                stamp = ((high << 32) | low) * info.resolution
                yield number, stamp, ipv6_of(info.linktype, data), self._vantage + index, self.file_index

    def _interface(self, body: bytes, order: str, index: int) -> Interface:
        linktype = struct.unpack_from(order + "H", body)[0]
        info = Interface(f"{self.path.stem}/if{index}", linktype)
        pos = 8
        while pos + 4 <= len(body):
            code, size = struct.unpack_from(order + "HH", body, pos)
            value = body[pos + 4 : pos + 4 + size]
            if code == 0:
                break
            if code == 2 and value:  # if_name
                info.name = value.decode("utf-8", "replace").rstrip("\0")
            elif code == 9 and value:  # if_tsresol: 10^-n, or 2^-n with the top bit set
                info.resolution = 2.0 ** -(value[0] & 0x7F) if value[0] & 0x80 else 10.0 ** -value[0]
            pos += 4 + size + (-size % 4)
        return info
