"""Breakpoints on SimNet: stop before a node sends a message type, edit it, release or drop it.

Theory of operation
-------------------
The interceptor sits in :attr:`SimNet.outbox`, which sees every message a
core asks to send. A message that matches a breakpoint (its kind, and the node
when the breakpoint names one) is taken off the net, encoded to the bytes it
would have had (signed, authenticated, checksummed) and kept as a
:class:`Held` whose ``pkt`` is the Scapy packet; ``stop`` names it until the
session has stopped the clock there and said so::

    brk("BU", node=mn)     MnCore --Send(BU)--> SimNet.outbox --> Interceptor: held #1, stop
    h = held()             h.pkt is IPv6 / DestOpt(HAO) / BU(...)     (the clock stands still)
    h.pkt[BU].seq = 99     edit any Scapy field
    release(h)             header lengths, then finish_bytes: Signature / BAD / checksum again, with the keys the core
                           meant (sign_with, auth_key), then SimNet.inject: decoded by the codec, sent
    release(h, raw=True)   the bytes exactly as edited (a stale checksum stays stale)
    drop(h)                never sent: the core sees a loss and retransmits

A hold may happen in a command that does not run the clock (``stop(f)`` makes
the MN de-register at once): ``stop`` stays set, and the next command that
would run the clock stops at once instead and shows the hold. ``held()``,
``release()`` and ``drop()`` without a number take the latest hold, the one the
clock stopped at. The core is not told about any of it: a released BU whose
sequence number was changed is answered with that number, which the MN does
not recognise, so it retransmits and meets a 135, as it would on a real
network. A breakpoint fires once unless made with ``once=False``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from fama_shell.base import ipv6_packet
from fama_shell.msc import Aliases, MscRow, label
from fama_shell.packets import packet_view
from fama_shell.views import View, table
from rich.console import Group, RenderableType
from rich.text import Text
from dataclasses import replace

from scapy.layers.inet6 import IPv6
from scapy.packet import NoPayload, Packet

from scapy_fama.codec import decode, encode_bytes
from scapy_fama.layers.headers import find_mh
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_topology import Node
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Message, kind, kind_named
from scapy_fama.wire import finish_bytes


@dataclass
class Breakpoint(View):
    """Stop before ``node`` (any: None) sends a message of ``kind``."""

    number: int
    kind: str
    node: str | None  # None: any node
    once: bool = True
    hits: int = 0

    def matches(self, node: Node, msg: Message) -> bool:
        return kind(msg) == self.kind and self.node in (None, node.name)

    def __str__(self) -> str:
        where = self.node or "any node"
        return f"#{self.number} {self.kind} from {where}{'' if self.once else ' (every time)'}, hit {self.hits}x"

    def __rich__(self) -> RenderableType:
        return Text(f"breakpoint {self}", "magenta")


@dataclass
class BreakpointTable(View):
    rows: list[Breakpoint] = field(default_factory=list)

    def __rich__(self) -> RenderableType:
        out = table("breakpoints", "#", "kind", "node", "once", "hits")
        for b in self.rows:
            out.add_row(
                str(b.number), b.kind, b.node or "any", "yes" if b.once else "no", str(b.hits)
            )
        return out


@dataclass
class Held(View):
    """A message stopped before it left ``node``: edit ``pkt``, then release or drop it."""

    number: int
    node: str
    kind: str
    time: float
    msg: Message  # as the core sent it (with its signing instructions)
    pkt: Packet  # the packet it would have been; edit its fields
    fate: str = "held"  # "held", then "released" or "dropped"

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the core's message holds keys, which do not copy)."""
        return {
            "number": self.number,
            "node": self.node,
            "kind": self.kind,
            "time": self.time,
            "fate": self.fate,
            "packet": ipv6_packet(self.pkt).summary(),  # a packet, or the bytes it was edited to
            "bytes": bytes(self.pkt).hex(),
        }

    def __rich__(self) -> RenderableType:
        head = Text(
            f"{self.fate} #{self.number}: {self.kind} from {self.node} (held at t={self.time:.3f} s)",
            "bold magenta",
        )
        n = self.number
        hint = {
            "held": f"edit its .pkt (e.g. held({n}).{_example(self.kind)}), then {_releases(n, self.kind)} or drop({n})",
            "released": "sent; run() carries it on",
            "dropped": f"never sent: {self.node} retransmits when its timer fires (run() to see it)",
        }[self.fate]
        return Group(head, packet_view(ipv6_packet(self.pkt)), Text(hint, "dim"))


NOT_MH = ("RS", "RA", "DATA", "TUN")  # kinds without a Mobility Header: release() redoes nothing


def _example(kind: str) -> str:
    """An edit of a held message of ``kind``: a field of its own layer where it has a sequence
    number (BU, BA: RFC 6275 §6.1.7, §6.1.8), else of its IPv6 header."""
    return f"pkt[{kind}].seq = 99" if kind in ("BU", "BA") else "pkt[IPv6].hlim = 1"


def _releases(n: int, kind: str) -> str:
    """What release() does with held message ``n`` of ``kind`` (see Interceptor.release)."""
    if kind in NOT_MH:
        return f"release({n}) (the bytes as edited)"
    what = "re-signed and checksummed" if kind in ("BU", "BA") else "checksummed"
    return f"release({n}) ({what}), release({n}, raw=True) (the bytes as edited)"


def _lengths_again(pkt: Packet) -> Packet:
    """A copy of ``pkt`` whose header lengths Scapy computes anew: the IPv6 Payload Length, each
    extension header's and the Mobility Header's Header Len (RFC 8200 §3, §4; RFC 6275 §6.1.1),
    which an edit of the options changes (finish_bytes refused the stale ones: "needs a whole
    Mobility Header"). The options' own lengths stay as edited."""
    copy = pkt.copy()
    layer = copy
    while not isinstance(layer, NoPayload):
        for name in ("plen", "len"):
            if name in layer.fields:
                setattr(layer, name, None)
        layer = layer.payload
    return copy


def _endpoints(pkt: Packet, msg: Message) -> tuple[str, str] | None:
    """(CoA, correspondent) the signature and BAD of the edited ``pkt`` cover (profile §4);
    None when it carries no BU or BA any more (then only its checksum is redone)."""
    edited = decode(pkt, lenient=True)
    if isinstance(edited, BindingAck) and isinstance(msg, BindingAck):  # the core knew what it answered
        edited = replace(edited, for_deregistration=msg.for_deregistration)
    return edited.endpoints() if isinstance(edited, (BindingUpdate, BindingAck)) else None


class Interceptor:
    """Breakpoints and held messages of one SimNet (it takes the net's ``outbox``)."""

    def __init__(self, net: SimNet, alias: Aliases) -> None:
        self.net = net
        self.breakpoints: list[Breakpoint] = []
        self.held: dict[int, Held] = {}
        self.notes: list[MscRow] = []  # for the chart: held, released, dropped
        self.stop: Held | None = None  # the latest hold, until the session stops the clock there
        self._alias = alias
        self._numbers = itertools.count(1)
        self._held_numbers = itertools.count(1)
        net.outbox = self._outbox

    def add(self, what: str | int, node: Node | None = None, once: bool = True) -> Breakpoint:
        bp = Breakpoint(next(self._numbers), kind_named(what), node.name if node else None, once)
        self.breakpoints.append(bp)
        return bp

    def remove(self, number: int | None = None) -> None:
        """Remove breakpoint ``number``, or all of them."""
        if number is None:
            self.breakpoints = []
        elif isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"a breakpoint number, not {type(number).__name__} {number!r}")
        elif all(b.number != number for b in self.breakpoints):
            known = ", ".join(str(b) for b in self.breakpoints) or "none set"
            raise ValueError(f"no breakpoint #{number}: {known}")
        else:
            self.breakpoints = [b for b in self.breakpoints if b.number != number]

    def _outbox(self, node: Node, msg: Message) -> bool:
        bp = next((b for b in self.breakpoints if b.matches(node, msg)), None)
        if bp is None:
            return False
        bp.hits += 1
        if bp.once:
            self.breakpoints.remove(bp)
        held = Held(
            next(self._held_numbers),
            node.name,
            kind(msg),
            self.net.now,
            msg,
            IPv6(encode_bytes(msg)),
        )
        self.held[held.number] = held
        self.stop = held
        self.notes.append(
            MscRow(
                held.time,
                node.name,
                None,
                f"HELD #{held.number}: {label(msg, self._alias)} (breakpoint #{bp.number})",
            )
        )
        return True

    def pick(self, which: Held | int | None) -> Held:
        """A held message: the one given, by number, or the latest (the clock stopped there)."""
        if not self.held:
            raise ValueError("nothing is held: set a breakpoint with brk('BU', node=mn) and run")
        number = which.number if isinstance(which, Held) else which
        if number is None:
            return self.held[max(self.held)]
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"a held message or its number, not {type(number).__name__} {number!r}")
        if number not in self.held:
            raise ValueError(
                f"#{number} is not held (released or dropped?); held: {sorted(self.held) or 'none'}"
            )
        return self.held[number]

    def _settle(self, held: Held, fate: str) -> None:
        """``held`` leaves the table as ``fate``; a clock stop it caused is over."""
        del self.held[held.number]
        held.fate = fate
        if self.stop is held:
            self.stop = None

    def release(self, which: Held | int | None = None, *, raw: bool = False) -> Packet:
        """Send a held message, re-finished (signature, BAD, checksum) unless ``raw``."""
        held = self.pick(which)
        try:
            pkt = ipv6_packet(held.pkt)  # edited in place, or replaced by other bytes
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"held #{held.number}.pkt: {exc}") from None
        data = bytes(pkt)
        if not raw and find_mh(pkt) is not None:
            pkt = _lengths_again(pkt)
            ends = _endpoints(pkt, held.msg)
            keys = {} if ends is None else {
                "coa": ends[0], "correspondent": ends[1], "auth_key": getattr(held.msg, "auth_key", None),
                "keypair": getattr(held.msg, "sign_with", None) if getattr(held.msg, "cga_params", None) else None,
            }  # fmt: skip
            data = finish_bytes(bytes(pkt), **keys)
        sent = IPv6(data)
        self._settle(held, "released")
        self.net.inject(self.net.node(held.node), data)
        how = "as edited" if raw else "re-finished"
        self.notes.append(
            MscRow(
                self.net.now, held.node, None, f"RELEASED #{held.number} ({how}): {sent.summary()}"
            )
        )
        return sent

    def drop(self, which: Held | int | None = None) -> Held:
        held = self.pick(which)
        self._settle(held, "dropped")
        self.notes.append(
            MscRow(
                self.net.now,
                held.node,
                None,
                f"DROPPED #{held.number}: {label(held.msg, self._alias)}",
            )
        )
        return held
