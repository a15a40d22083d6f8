"""The PHKT refreshes a DAR foresees: the shape of each binding's last refresh, found by a BU's bytes.

Theory of operation
-------------------
Most BUs a DAR with many bindings answers are refreshes: the same MN, CoA and
HoA, the same options, a sequence number one on. The general path reads each
(``wire.parse``, the codec, the core) and writes its BA (the codec, ``finish``).
For a refresh like the last one of its binding the bytes say all of that already,
but for the sequence number, the BAD and the checksum
(:mod:`scapy_fama.wire.refresh`), so the DAR automaton keeps one
:class:`~scapy_fama.wire.refresh.RefreshShape` per binding and tries it first::

    frame --its HoA (at the one offset a shape allows)--> a shape? --read(): the same but seq, BAD, checksum-->
        DarCore.refresh(): the state accepts it (Refreshed) --> BA: shape.answer(seq, Kbm); records counted,
        or, for a log that is read or a BA held, the objects of Refreshed.effects()
    anything else (no shape, other bytes, a wrong checksum, the core not accepting) --> the general path
    the general path accepts a BU ``foreseeable`` allows --> kept; its shape made when the next one comes

The core decides every foreseen BU again (sequence number, BAD, binding, record,
expiry: ``DarCore.refresh``), and what it returns makes the effects the general
path would (``Refreshed.effects``) when someone looks at them; only reading and
writing the bytes, and objects nobody looks at, are saved. One shape is kept per
HoA, at most ``capacity`` (profile §6 "Bounded state": the binding cache's
capacity), the one least recently used going first; a lookup is one slice and one
dict probe, whatever the bindings sent. Tests hold both paths to the same bytes, records and state.
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy_fama.proto.messages import BindingAck, BindingUpdate
from scapy_fama.wire import WireInfo
from scapy_fama.wire.refresh import HEADERS, RefreshShape, refresh_shape, shape_key

Found = tuple[RefreshShape, BindingUpdate, int, bytes, bytes]  # shape, its BU, and read(): seq, BAD, covered


@dataclass(frozen=True)
class _Accepted:
    """A refresh the general path accepted, its shape not made yet: made (once) when the next
    frame with its home address where a shape has it comes, so that a BU read the general way
    pays only for keeping this."""

    ip: bytes
    info: WireInfo
    ba: BindingAck
    answer: bytes  # the BA as sent

    def shape(self) -> RefreshShape | None:
        return refresh_shape(self.ip, self.info, self.answer, self.ba.endpoints())


class Refreshes:
    """One shape per binding (its last refresh), with the BU it was read as; at most
    ``capacity``, the one least recently used going first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._shapes: dict[bytes, tuple[RefreshShape | _Accepted, BindingUpdate]] = {}  # by HoA, oldest use first

    def __len__(self) -> int:
        return len(self._shapes)

    def find(self, ip: bytes) -> Found | None:
        """The shape ``ip`` is a refresh of, its BU, and what ``RefreshShape.read`` read; None if
        ``ip`` is not one (the general path reads it)."""
        key = shape_key(ip)
        held = self._shapes.get(key)
        if held is None:
            return None
        shape, bu = held
        if isinstance(shape, _Accepted):
            made = shape.shape()
            if made is None:  # a layout no shape takes
                del self._shapes[key]
                return None
            shape = made
            self._shapes[key] = (made, bu)  # made once, whatever ``ip`` turns out to be (cost before trust)
        read = shape.read(ip)
        if read is None:
            return None
        del self._shapes[key]  # the newest use goes last
        self._shapes[key] = (shape, bu)
        return (shape, bu, *read)

    def remember(self, bu: BindingUpdate, ip: bytes, info: WireInfo, ba: BindingAck, answer: bytes) -> None:
        """The general path accepted ``bu`` (``ip``, read as ``info``) with ``ba``, sent as
        ``answer``: the next BU like it is foreseen, in place of its binding's last."""
        mh = info.mh
        if mh is None or mh.offset != HEADERS or self.capacity < 1:
            return
        key = shape_key(ip)
        if self._shapes.pop(key, None) is None and len(self._shapes) >= self.capacity:
            del self._shapes[next(iter(self._shapes))]
        self._shapes[key] = (_Accepted(ip, info, ba, answer), bu)
