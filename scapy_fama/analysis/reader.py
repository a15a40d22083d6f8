"""Streamed reading of pcap and pcapng files: records in, IPv6 bytes out, memory flat in file size.

Theory of operation
-------------------
A capture is read in blocks of :data:`BLOCK` bytes; records are cut from the
block with precompiled :mod:`struct` formats and the link-layer header is
stripped, so each record costs a few hundred nanoseconds and the file is never
held in memory; frames come out in time order (:func:`in_time_order`)::

    file --read(BLOCK)--> buffer --record header--> (time, frame bytes, interface)
                                                      |  link layer: Raw IP / IPv6 (101, 229, 12, 14),
                                                      |  Ethernet (+ 802.1Q/802.1ad tags), Linux SLL/SLL2,
                                                      v  BSD loopback (0, 108)
                                                    (number, time, ip, capture point, file index)

This is the one place besides :mod:`scapy_fama.wire` that reads bytes by hand,
and it reads only record framing and link-layer headers: the IPv6 content goes
through ``wire.parse``. ``ip`` is None for a frame that carries no IPv6 (IPv4,
ARP, an unknown link type).

A frame of a link type outside :data:`READABLE_LINKS` (IEEE 802.11, radiotap, Bluetooth, ...)
is not read, only counted: each capture point counts its frames (:attr:`Interface.frames`; a
pcap file's once, at its end), so a tool can say which capture points it did not read and how
many frames they held, in the one sentence every tool says (:func:`not_read`), and not take
them for frames without IPv6.

pcap: both byte orders, micro- and nanosecond magics; the link type's upper
bits (FCS length, RFC draft "pcap" §8) are masked off. pcapng: Section Header,
Interface Description (link type, ``if_name``, ``if_tsresol``), Enhanced, Simple and
obsolete Packet blocks (tshark counts all three as frames), several sections and byte
orders; other blocks are skipped. Each pcapng interface is its own capture point
(vantage); a pcap file has one.

A file is not always stored in time order: a pcapng of several interfaces is written as each
interface's buffer is flushed, and a merge or a clock step leaves frames stamped earlier than
those before them. Every step of the analysis pairs and times packets by their timestamps (a
BA after its BU, a tunnel's first packet after a handover; fama-profile §7 and the handover
breakdown), as tshark's ``frame.time_epoch`` orders them, so the frames are put in time order
(file order on ties) through a window of :data:`REORDER` frames: memory stays flat, and only a
frame stored more than that many places after a later-stamped one stays out of order (the
batch's ``time_span`` then finds the file not in time order). Frame numbers stay file order,
as tshark numbers them. A Simple Packet Block has no timestamp (tshark shows none): its frame
takes the time of the frame before it, and so keeps its place.

:meth:`CaptureReader.records` gives the records as stored instead (link-layer bytes, the
timestamp in the capture point's own units, the length on the wire, pcapng comments and flags),
numbered as the frames are, for writing a capture back (``fama-analyze --annotate``).

Errors: a file that is not a capture (wrong magic, shorter than its header)
raises :class:`CaptureError` before any frame. A file cut short in a record
ends the iteration cleanly and sets :attr:`CaptureReader.truncated` to a
sentence saying where, so the caller can report the results up to the break.
A pcapng block that contradicts itself (its two total lengths differ, an Enhanced
Packet Block's captured length runs past the block, fixed fields missing: what
tshark calls "damaged or corrupt") ends it the same way, as a break at that block; so does
a pcap record header whose captured length is beyond :data:`MAX_CAPLEN` and the snap
length, before its bytes are read. A block or record that claims more bytes than the file
holds is never read in: memory stays flat. A ``lenient`` reader (a file found in a
folder, not named by the user) turns a CaptureError into such a break too: no frame, or
the frames before it; and so a file it cannot open (no read permission, gone).
"""

from __future__ import annotations

import io
import resource
import struct
from bisect import insort
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self

BLOCK = 1 << 20
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
BYTE_ORDER_MAGIC = 0x1A2B3C4D
SHB, EPB, OBSOLETE_PB, SPB = 0x0A0D0D0A, 6, 2, 3  # pcapng block types: a section, and those that hold a frame
PACKET_BLOCKS = (EPB, OBSOLETE_PB)  # with an interface, a timestamp and options
FRAME_BLOCKS = (EPB, OBSOLETE_PB, SPB)
REORDER = 4096  # frames held to put a file's frames in time order (several MB at most)
MAX_CAPLEN = 262144  # the largest record libpcap and Wireshark read (WTAP_MAX_PACKET_SIZE_STANDARD)
LINKTYPE_MASK = 0x03FFFFFF  # the upper bits carry the FCS length
IPV6_RAW = {12, 14, 101, 229}  # Raw IP (two historical numbers), LINKTYPE_RAW, LINKTYPE_IPV6
ETHERNET, LINUX_SLL, LINUX_SLL2, NULL, LOOP = 1, 113, 276, 0, 108
READABLE_LINKS = IPV6_RAW | {ETHERNET, LINUX_SLL, LINUX_SLL2, NULL, LOOP}  # the link types ipv6_of reads
READABLE_NAMES = "raw IP, Ethernet, Linux SLL/SLL2 and BSD loopback"  # READABLE_LINKS, as a sentence says them
# the names of link types (tcpdump.org's LINKTYPE_ list) a capture of a mobile node's links is often in that
# the reader does not read: radio, Bluetooth, serial, USB; another is said by its number
LINK_NAMES = {
    6: "Token Ring", 8: "SLIP", 9: "PPP", 10: "FDDI", 50: "PPP in HDLC framing", 51: "PPPoE", 104: "Cisco HDLC",
    105: "IEEE 802.11", 107: "Frame Relay", 119: "IEEE 802.11 with Prism header",
    127: "IEEE 802.11 with radiotap header", 163: "IEEE 802.11 with AVS header", 187: "Bluetooth HCI H4",
    189: "USB (Linux)", 192: "PPI", 195: "IEEE 802.15.4 with FCS", 201: "Bluetooth HCI H4 with pseudo-header",
    204: "PPP with direction", 220: "USB (Linux, memory-mapped)", 227: "SocketCAN", 228: "raw IPv4",
    230: "IEEE 802.15.4 without FCS", 249: "USBPcap", 251: "Bluetooth LE link layer", 253: "Linux netlink",
    254: "Bluetooth Linux monitor", 256: "Bluetooth LE link layer with pseudo-header", 272: "Nordic BLE sniffer",
}
BSD_AF_INET6 = {24, 28, 30}  # AF_INET6 on the BSDs, macOS, FreeBSD
ETH_IPV6 = b"\x86\xdd"
ETH_TAGS = {b"\x81\x00", b"\x88\xa8", b"\x91\x00"}  # 802.1Q, 802.1ad (QinQ), the pre-802.1ad QinQ type


_U32 = {o: struct.Struct(o + "I").unpack_from for o in "<>"}
_BLOCK_HEADER = {o: struct.Struct(o + "II").unpack_from for o in "<>"}  # block type, total length
_EPB_FIELDS = {o: struct.Struct(o + "IIIII").unpack_from for o in "<>"}  # interface, time high, low, caplen, wirelen
_DAMAGED = object()  # what a pcapng block that contradicts itself reads as


class CaptureError(ValueError):
    """The file is not a capture this reader understands."""


# One record: (number in the file, 1-based as tshark counts; time in seconds; the IPv6 bytes or
# None; capture point; file index). A plain tuple: a NamedTuple costs 0.9 µs a frame.
Frame = tuple[int, float, "bytes | None", int, int]
# One record as stored: (number; the file's interface index; the timestamp in that interface's
# units (10^-tsresol s); the link-layer bytes captured; the length on the wire; the record's
# comments (pcapng opt_comment); its epb_flags or None).
Record = tuple[int, int, int, bytes, int, tuple[str, ...], "int | None"]
VANTAGES_PER_FILE = 1000  # capture point = file index * this + pcapng interface index
SPARE_FILES = 64  # open files besides the captures: the interpreter, its libraries, stdout, a pool's pipes


@dataclass
class Interface:
    """A capture point of a file: its name (pcapng ``if_name``) and link type; the frames read at it."""

    name: str
    linktype: int
    resolution: float = 1e-6
    tsresol: int = 6  # pcapng if_tsresol as stored (10^-n, or 2^-n with the top bit); pcap: 6 or 9
    snaplen: int = 0
    frames: int = 0  # counted as the frames are read (records() counts none)

    @property
    def read(self) -> bool:
        """Its link type is one the reader reads (:data:`READABLE_LINKS`): its frames' IPv6 comes out."""
        return self.linktype in READABLE_LINKS


def link_name(linktype: int) -> str:
    """``105 (IEEE 802.11)``: a link type's number, and its name when it is a common one."""
    return f"{linktype} ({LINK_NAMES[linktype]})" if linktype in LINK_NAMES else str(linktype)


def not_read(file: str, point: Interface, pcapng: bool) -> str:
    """The one sentence every tool says of a capture point whose link type the reader does not read
    (its frames come out with no IPv6): which file and interface, which link type, how many frames
    were left unread. A pcap file is its one capture point, a pcapng interface is named."""
    where = f"{file}: interface '{point.name}' has link type" if pcapng else f"{file}: link type"
    frames = {0: "it holds no frame", 1: "its 1 frame was left unread"}.get(
        point.frames, f"its {point.frames} frames were left unread")
    return (f"{where} {link_name(point.linktype)}, which scapy-fama does not read (it reads IPv6 over "
            f"{READABLE_NAMES}): {frames}")


def ipv6_of(linktype: int, data: bytes) -> bytes | None:
    """The IPv6 packet in a frame of ``linktype``, or None when there is none."""
    if linktype in IPV6_RAW:
        return data
    if linktype == ETHERNET:
        at = 12
        while data[at : at + 2] in ETH_TAGS:  # 802.1Q, stacked (QinQ): each tag 4 bytes before the type
            at += 4
        return data[at + 2 :] if data[at : at + 2] == ETH_IPV6 else None
    if linktype == LINUX_SLL:
        return data[16:] if data[14:16] == ETH_IPV6 else None
    if linktype == LINUX_SLL2:
        return data[20:] if data[0:2] == ETH_IPV6 else None
    if linktype in (NULL, LOOP) and len(data) >= 4:
        families = {int.from_bytes(data[:4], "little"), int.from_bytes(data[:4], "big")}  # host byte order
        return data[4:] if families & BSD_AF_INET6 else None
    return None


def open_at_once(count: int) -> None:
    """Let this process hold ``count`` captures open at once (merged by time, every file is open
    until the end): the soft limit of open files (``ulimit -n``, often 1024) is raised to what
    it takes, up to the hard limit; past that, one line that says what to do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = count + SPARE_FILES
    if need <= soft:
        return
    if hard != resource.RLIM_INFINITY and need > hard:
        raise ValueError(f"{count} captures read at once need {need} open files, more than this system allows "
                         f"({hard}, ulimit -Hn): read them with --jobs N, or fewer at a time")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


class CaptureReader:
    """Frames of one pcap or pcapng file, read in blocks (``with`` closes the file)."""

    def __init__(self, path: str | Path, file_index: int = 0, *, lenient: bool = False) -> None:
        self.path = Path(path)
        self.lenient = lenient
        self.file_index = file_index
        self._vantage = file_index * VANTAGES_PER_FILE
        self.position = 0  # bytes consumed so far, for progress bars
        self.truncated: str | None = None
        self.interfaces: list[Interface] = []
        self._section: list[int] = []  # pcapng: the current section's interfaces, as indexes of ``interfaces``
        self._bad: CaptureError | None = None
        try:
            self.size = self.path.stat().st_size
            self._file: BinaryIO = self.path.open("rb")
        except (PermissionError, FileNotFoundError) as exc:  # the file's own: not, e.g., too many open files
            if not lenient:
                raise
            self.size, self._file = 0, io.BytesIO()
            self._bad = CaptureError(f"{self.path}: cannot be read ({exc.strerror})")
        head = self._file.read(4)
        self.pcapng = head == PCAPNG_SHB
        self._head = head
        self._bad = self._bad or self._not_a_capture(head)
        if self._bad is not None and not lenient:
            self._file.close()
            raise self._bad

    def _not_a_capture(self, head: bytes) -> CaptureError | None:
        """Why a file starting with ``head`` is no pcap or pcapng file (None: it may be one)."""
        if len(head) < 4:
            return CaptureError(f"{self.path}: {len(head)} bytes, not a pcap or pcapng file")
        if not self.pcapng and head not in PCAP_MAGICS:
            return CaptureError(f"{self.path}: not a pcap or pcapng file (magic {head.hex()})")
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[Frame]:
        frames = self._pcapng_frames() if self.pcapng else self._pcap_frames()
        return in_time_order(self._tolerated(frames) if self.lenient else frames, REORDER)

    def records(self) -> Iterator[Record]:
        """The records as stored, numbered as :meth:`__iter__` numbers frames (read one or the other)."""
        records = self._pcapng_records() if self.pcapng else self._pcap_records()
        return self._tolerated(records) if self.lenient else records

    def _tolerated(self, items: Iterator[Frame] | Iterator[Record]) -> Iterator[Any]:
        """``lenient``: what is read before a CaptureError, which becomes :attr:`truncated`."""
        try:
            if self._bad is not None:
                raise self._bad
            yield from items
        except CaptureError as exc:
            self.truncated = f"{self.path.name}: {str(exc).removeprefix(f'{self.path}: ')}"

    def _cut(self, what: str, number: int) -> None:
        self.truncated = f"{self.path.name}: cut short in {what} of frame {number} at byte {self.position}"

    def _damaged(self, why: str, number: int, start: int, unit: str = "block") -> None:
        """A pcapng block (or pcap record) that contradicts itself: read up to it, as a file cut short there."""
        self.truncated = f"{self.path.name}: damaged {unit} at byte {start} (frame {number}): {why}"

    def _oversized(self, caplen: int, number: int, start: int) -> bool:
        """A pcap record header whose captured length no capture writes (a damaged header, not a
        file cut short): :attr:`truncated` says so and the caller stops, before reading it in."""
        limit = max(MAX_CAPLEN, self.interfaces[0].snaplen)
        if caplen <= limit:
            return False
        self._damaged(f"a captured length of {caplen} bytes, more than {limit}", number, start, "record header")
        return True

    def _refill(self, buf: bytes, at: int, done: int, more: int) -> tuple[bytes, int, int]:
        """``buf`` from ``at`` on (``buf[0]`` lies at file offset ``done``), with up to ``more``
        bytes of the file after it: the new buffer, 0 (where to go on in it), its file offset."""
        done += at
        self.position = done
        return buf[at:] + self._file.read(more), 0, done

    # ---------------------------------------------------------------- pcap

    def _pcap_header(self) -> tuple[str, float, int]:
        """Byte order, time unit and link type of a pcap file; records its one interface."""
        order, unit = PCAP_MAGICS[self._head]
        rest = self._file.read(20)
        if len(rest) < 20:
            raise CaptureError(f"{self.path}: pcap header cut short ({4 + len(rest)} of 24 bytes)")
        snaplen, linktype = struct.unpack(order + "II", rest[12:20])
        linktype &= LINKTYPE_MASK & 0xFFFF
        self.interfaces.append(Interface(self.path.stem, linktype, unit, 9 if unit < 1e-6 else 6, snaplen))
        self.position = 24
        return order, unit, linktype

    def _pcap_frames(self) -> Iterator[Frame]:
        order, unit, linktype = self._pcap_header()
        record = struct.Struct(order + "IIII").unpack_from
        buf, at, number, done = b"", 0, 0, 24  # done: file offset of buf[0]
        raw, ethernet = linktype in IPV6_RAW, linktype == ETHERNET
        vantage, tag = self._vantage, self.file_index
        try:
            while True:
                if len(buf) - at < 16:
                    buf, at, done = self._refill(buf, at, done, BLOCK)
                    if not buf:
                        return
                    if len(buf) < 16:
                        self._cut("the record header", number + 1)
                        return
                sec, frac, caplen, _ = record(buf, at)
                if caplen > MAX_CAPLEN and self._oversized(caplen, number + 1, done + at):
                    return
                end = at + 16 + caplen
                if end > len(buf):
                    buf, at, done = self._refill(buf, at, done, max(BLOCK, caplen + 16))
                    end = 16 + caplen
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
        finally:  # the one capture point's frame count, set once, not counted frame by frame
            self.interfaces[0].frames = number

    # ---------------------------------------------------------------- pcapng

    def _pcap_records(self) -> Iterator[Record]:
        order, _, _ = self._pcap_header()
        scale = 10 ** self.interfaces[0].tsresol
        header = struct.Struct(order + "IIII").unpack
        number = 0
        while True:
            head = self._file.read(16)
            if not head:
                return
            if len(head) < 16:
                self._cut("the record header", number + 1)
                return
            sec, frac, caplen, wirelen = header(head)
            if self._oversized(caplen, number + 1, self.position):
                return
            data = self._file.read(caplen)
            if len(data) < caplen:
                self._cut("the packet data", number + 1)
                return
            number += 1
            self.position += 16 + caplen
            yield number, 0, sec * scale + frac, data, wirelen, (), None

    # ---------------------------------------------------------------- pcapng

    def _pcapng_frames(self) -> Iterator[Frame]:
        return self._pcapng(frames=True)

    def _pcapng_records(self) -> Iterator[Record]:
        return self._pcapng(frames=False)

    def _pcapng(self, *, frames: bool) -> Iterator[Any]:
        """The frames (or records) of a pcapng file, its blocks cut from the file read :data:`BLOCK`
        bytes at a time, as pcap records are; stops with ``truncated`` set when cut or damaged.
        Every block goes to :meth:`_record` but, for frames, an Enhanced Packet Block that holds
        together (its captured bytes within it, its interface described): cut here from the
        buffer, its options unread, what the records' path would decide of it."""
        buf, at, done, number, size = self._head, 0, 0, 0, self.size  # done: file offset of buf[0]
        header, u32, epb = _BLOCK_HEADER["<"], _U32["<"], _EPB_FIELDS["<"]
        order, interfaces, section, vantage, tag = "<", self.interfaces, self._section, self._vantage, self.file_index
        when = 0.0  # the last frame's time
        while True:
            if len(buf) - at < 12:
                buf, at, done = self._refill(buf, at, done, BLOCK)
                if not buf:
                    return
                if len(buf) < 12:
                    self._cut("a block header", number + 1)
                    return
            btype, length = header(buf, at)
            if btype == SHB:  # a palindrome: the same in either byte order
                order = "<" if _U32["<"](buf, at + 8)[0] == BYTE_ORDER_MAGIC else ">"
                header, u32, epb = _BLOCK_HEADER[order], _U32[order], _EPB_FIELDS[order]
                length = header(buf, at)[1]
            if length < 12 or length % 4:
                if btype == SHB and not interfaces and number == 0:
                    raise CaptureError(f"{self.path}: pcapng section header with length {length}")
                self.position = done + at
                self._cut(f"a block of impossible length {length}", number + 1)
                return
            if length > size - done - at:  # past the file's end: not read in (memory flat)
                self.position = size
                self._cut("a block", number + 1)
                return
            if length > len(buf) - at:
                buf, at, done = self._refill(buf, at, done, max(BLOCK, length))
                if length > len(buf):  # the file shrank while read
                    self.position = done + len(buf)
                    self._cut("a block", number + 1)
                    return
            trailing = u32(buf, at + length - 4)[0]
            if trailing != length:  # pcapng §3.1: the Block Total Length at both ends
                self._damaged(f"its total lengths differ ({length} first, {trailing} last)", number + 1, done + at)
                return
            start, end = at + 8, at + length - 4
            at += length
            if frames and btype == EPB and length >= 32:
                iface, high, low, caplen, _ = epb(buf, start)
                data = start + 20
                if data + caplen <= end and iface < len(section):
                    number += 1
                    index = section[iface]
                    info = interfaces[index]
                    info.frames += 1
                    if info.linktype == ETHERNET and caplen >= 14 and buf[data + 12 : data + 14] == ETH_IPV6:
                        ip = buf[data + 14 : data + caplen]  # the common case, without a call
                    else:
                        ip = ipv6_of(info.linktype, buf[data : data + caplen])
                    when = ((high << 32) | low) * info.resolution
                    yield number, when, ip, vantage + index, tag
                    continue
            self.position = done + at
            record = self._record(btype, buf[start:end], order, number)
            if record is _DAMAGED:
                return
            if isinstance(record, tuple):
                number, index, ticks, raw = record[:4]
                if not frames:
                    yield record
                else:
                    info = interfaces[index]
                    info.frames += 1
                    if btype != SPB:  # a Simple Packet Block has no timestamp (tshark shows none): its place
                        when = ticks * info.resolution  # in the file is its only time, the frame's before it
                    yield number, when, ipv6_of(info.linktype, raw), vantage + index, tag

    def _record(self, btype: int, body: bytes, order: str, number: int) -> Record | None | object:
        """One pcapng block after ``number`` frames: its record when it holds a frame, None when
        it holds none (a section or interface is noted), :data:`_DAMAGED` when it contradicts
        itself (``truncated`` says how)."""
        need = {1: 8, 6: 20, 2: 20, 3: 4}.get(btype, 0)  # fixed fields: IDB, EPB, PB, SPB (pcapng §4.2-4.4)
        if btype in PACKET_BLOCKS and len(body) >= need:
            need += _packet_fields(btype, body, order)[3]  # the captured bytes, within the block (§4.3)
        if len(body) < need:
            start = self.position - len(body) - 12
            self._damaged(f"a block of type {btype} with {len(body)} bytes of body needs {need}", number + 1, start)
            return _DAMAGED
        if btype == SHB:
            self._section.clear()  # this section's interfaces, as file-wide indexes
        elif btype == 1:
            self._section.append(len(self.interfaces))
            self.interfaces.append(self._interface(body, order, len(self.interfaces)))
        elif btype in FRAME_BLOCKS:
            comments: tuple[str, ...] = ()
            flags = None
            if btype in PACKET_BLOCKS:
                iface, high, low, caplen, wirelen = _packet_fields(btype, body, order)
                data = body[20 : 20 + caplen]
                if len(body) > 20 + caplen + 3:
                    comments, flags = _epb_options(body[20 + caplen + (-caplen % 4) :], order)
            else:  # Simple Packet Block: interface 0, no timestamp
                iface, high, low = 0, 0, 0
                wirelen = struct.unpack_from(order + "I", body)[0]
                data = body[4 : 4 + wirelen]
            if iface >= len(self._section):
                raise CaptureError(f"{self.path}: frame {number + 1} names interface {iface}, not described")
            return number + 1, self._section[iface], (high << 32) | low, data, wirelen, comments, flags
        return None

    def _interface(self, body: bytes, order: str, index: int) -> Interface:
        linktype, _, snaplen = struct.unpack_from(order + "HHI", body)
        info = Interface(f"{self.path.stem}/if{index}", linktype, snaplen=snaplen)
        for code, value in _options(body[8:], order):
            if code == 2 and value:  # if_name
                info.name = value.decode("utf-8", "replace").rstrip("\0")
            elif code == 9 and value:  # if_tsresol: 10^-n, or 2^-n with the top bit set
                info.tsresol = value[0]
                info.resolution = 2.0 ** -(value[0] & 0x7F) if value[0] & 0x80 else 10.0 ** -value[0]
        return info


def _packet_fields(btype: int, body: bytes, order: str) -> tuple[int, int, int, int, int]:
    """(interface, timestamp high, low, captured length, length on the wire) of an Enhanced
    Packet Block, or of an obsolete Packet Block (pcapng appendix: a 16-bit interface ID and a
    16-bit drops count where the EPB has a 32-bit interface ID); both have 20 bytes of them."""
    if btype == EPB:
        iface, high, low, caplen, wirelen = struct.unpack_from(order + "IIIII", body)
    else:
        iface, _drops, high, low, caplen, wirelen = struct.unpack_from(order + "HHIIII", body)
    return iface, high, low, caplen, wirelen


def _options(buf: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) of the options of a block: Code | Length | Value padded to 32 bits, to opt_endofopt."""
    pos = 0
    while pos + 4 <= len(buf):
        code, size = struct.unpack_from(order + "HH", buf, pos)
        if code == 0:
            return
        yield code, buf[pos + 4 : pos + 4 + size]
        pos += 4 + size + (-size % 4)


def _epb_options(options: bytes, order: str) -> tuple[tuple[str, ...], int | None]:
    """The comments (opt_comment, code 1) and epb_flags (code 2) of an Enhanced Packet Block."""
    comments: list[str] = []
    flags = None
    for code, value in _options(options, order):
        if code == 1:
            comments.append(value.decode("utf-8", "replace"))
        elif code == 2 and len(value) == 4:
            flags = struct.unpack(order + "I", value)[0]
    return tuple(comments), flags


def in_time_order(frames: Iterator[Frame], window: int = REORDER) -> Iterator[Frame]:
    """``frames`` by time, file order (number) on ties: a frame stored fewer than ``window``
    places after frames stamped later comes out before them; ``window`` frames are held at most.
    Frames in order cost an append (a frame stamped before those held, a bisection)."""
    held: deque[Frame] = deque()
    last = float("-inf")  # the latest time held
    for frame in frames:
        if frame[1] >= last:
            held.append(frame)
            last = frame[1]
        else:
            insort(held, frame, key=_time)
        if len(held) > window:
            yield held.popleft()
    yield from held


def _time(frame: Frame) -> float:
    return frame[1]
