"""Reassembly of the fragments addressed to a node (RFC 8200 §4.5), with bounded state.

Theory of operation
-------------------
A BU larger than the path MTU (a CGA-signed BU with a 1536-bit key, behind a
tunnel) reaches the DAR in fragments; a node puts together what is addressed to
it, and a router forwards fragments in transit untouched. Fragments are keyed by
(source, destination, Identification); the first one (offset 0) gives the
unfragmentable part, the last one (M=0) the length, and the packet is whole
when the pieces cover it without a gap::

    fragment --RFC 8200 §4.5 checks--> pending[(src, dst, id)]: first, pieces, end
                |  M=1 and not 8n bytes, or beyond 65,535: Refused, Parameter Problem code 0
                |  overlapping another piece: the whole datagram dropped, silently (RFC 5722;
                |  an exact duplicate is ignored)
                v
             whole: wire.write.reassembled(first, fragment, pieces) -> read as if received so
    tick --> expire(): a datagram pending REASSEMBLY_TIME (60 s) goes; its first fragment,
             if it came, is the Time Exceeded (code 1) the driver may send

Bounded (profile §6 "Bounded state"): at most ``datagrams`` pending at once and
``limit`` bytes held across them; a new datagram beyond either bound pushes out
the oldest pending one, so a flood of fragments that never complete holds the
table at its bounds and costs each datagram at most its 60 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scapy_fama.wire import Fragment, WireInfo
from scapy_fama.wire.numbers import FRAGMENT_HEADER, IPV6_HEADER
from scapy_fama.wire.write import reassembled

REASSEMBLY_TIME = 60.0  # seconds, RFC 8200 §4.5
DATAGRAMS = 64
LIMIT = 1 << 20  # bytes held across the pending datagrams
MAX_PAYLOAD = 65535  # RFC 8200 §4.5: the Payload Length a reassembled packet can have
_FRAGMENT_OFFSET = 2  # byte of the Fragment header holding the offset (Parameter Problem pointer)
_PAYLOAD_LENGTH = 4  # byte of the IPv6 header


@dataclass(frozen=True)
class Refused:
    """A fragment refused: why, and the byte of it a Parameter Problem (code 0) points at."""

    why: str
    pointer: int | None = None


@dataclass
class _Pending:
    started: float
    first: bytes | None = None  # the fragment at offset 0, as received
    fragment: Fragment | None = None  # its Fragment header
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset -> fragmentable data
    end: int | None = None  # the length of the fragmentable part, once the last piece came
    size: int = 0  # bytes held

    def whole(self) -> bytes | None:
        if self.first is None or self.fragment is None or self.end is None:
            return None
        at, parts = 0, []
        for offset in sorted(self.pieces):
            if offset != at:
                return None
            parts.append(self.pieces[offset])
            at += len(self.pieces[offset])
        return reassembled(self.first, self.fragment, b"".join(parts)) if at == self.end else None

    def overlaps(self, offset: int, size: int) -> bool:
        return any(offset < o + len(p) and o < offset + size for o, p in self.pieces.items())


class Reassembly:
    """The datagrams under reassembly at one node (see the module's docstring)."""

    def __init__(self, datagrams: int = DATAGRAMS, limit: int = LIMIT) -> None:
        self.datagrams = datagrams
        self.limit = limit
        self._pending: dict[tuple[str, str, int], _Pending] = {}  # oldest first
        self._held = 0

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def held(self) -> int:
        """Bytes held across the pending datagrams."""
        return self._held

    def add(self, ip: bytes, info: WireInfo, now: float) -> bytes | Refused | None:
        """Take a fragment (``info.fragment``): the whole packet when it completes one, Refused
        when the fragment (or its datagram) is dropped, None while the datagram waits."""
        frag = info.fragment
        assert frag is not None
        data = bytes(ip[frag.offset + FRAGMENT_HEADER : info.end])
        if frag.more and len(data) % 8:
            return Refused("a fragment that is not the last holds no multiple of 8 bytes", _PAYLOAD_LENGTH)
        if frag.fragment_offset + len(data) > MAX_PAYLOAD - (frag.offset + FRAGMENT_HEADER - IPV6_HEADER):
            return Refused("the fragments would make a packet over 65,535 bytes", frag.offset + _FRAGMENT_OFFSET)
        key = (info.src, info.dst, frag.identification)
        pending = self._pending.get(key)
        if pending is None:
            self._make_room(len(data))
            pending = self._pending[key] = _Pending(now)
        if pending.pieces.get(frag.fragment_offset) == data:
            return None  # an exact duplicate: ignored (RFC 5722 §4 allows it)
        if pending.overlaps(frag.fragment_offset, len(data)) or (
            not frag.more and pending.end is not None and pending.end != frag.fragment_offset + len(data)
        ):
            self._drop(key)
            return Refused("overlapping fragments: the datagram is dropped (RFC 5722)")
        pending.pieces[frag.fragment_offset] = data
        pending.size += len(data)
        self._held += len(data)
        if frag.fragment_offset == 0:
            pending.first, pending.fragment = bytes(ip[: info.end]), frag
        if not frag.more:
            pending.end = frag.fragment_offset + len(data)
        whole = pending.whole()
        if whole is not None:
            self._drop(key)
        return whole

    def expire(self, now: float) -> list[bytes]:
        """Abandon the datagrams pending for REASSEMBLY_TIME: the first fragments of those that
        had one (RFC 8200 §4.5: a Time Exceeded, code 1, should go to their source)."""
        firsts = []
        for key, pending in list(self._pending.items()):
            if now - pending.started < REASSEMBLY_TIME:
                break  # oldest first: the rest are younger
            self._drop(key)
            if pending.first is not None:
                firsts.append(pending.first)
        return firsts

    def _make_room(self, size: int) -> None:
        while self._pending and (len(self._pending) >= self.datagrams or self._held + size > self.limit):
            self._drop(next(iter(self._pending)))

    def _drop(self, key: tuple[str, str, int]) -> None:
        self._held -= self._pending.pop(key).size

    def clear(self) -> None:
        self._pending.clear()
        self._held = 0
