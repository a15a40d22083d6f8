"""A tiny event loop that connects DarCores, MnCores and one plain CN on a virtual clock.

Each ``Send``/``Forward`` effect becomes a delivery ``delay`` seconds later to
the node that owns the destination; timers fire at ``next_deadline()``. Routing
is deliberately simple::

    dst == CN                       -> the CN's inbox
    dst == a DAR's address          -> that DAR
    ff02::2 (RS)                    -> the DAR of the sender's link
    ff02::1 / unicast RA            -> the MNs on that DAR's link
    data for an address of prefix_k -> DAR_k (it tunnels to a bound HoA or forwards
                                       onto its link), unless DAR_k itself forwarded it
    anything else for prefix_k      -> the MN on DAR_k's link whose current address it is

``wire`` maps a message as sent to the message as received: by default the
stand-in spans of :mod:`standin_codec`; ``codec_wire`` goes through the real
Scapy codec instead. ``lose`` may drop messages in flight (retransmission tests).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from standin_codec import carry
from topology import CN

from scapy_fama.proto import DarCore, MnCore
from scapy_fama.proto.effects import Deliver, Drop, Effect, Forward, Notify, Send
from scapy_fama.proto.messages import Datagram, Message, RouterAdvertisement, RouterSolicitation

Node = DarCore | MnCore


def codec_wire(msg: Message) -> Message:
    """Through real bytes: scapy_fama.codec encode, then decode."""
    from scapy_fama.codec import decode, encode

    return decode(bytes(encode(msg)))


@dataclass
class Entry:
    at: float
    node: str
    effect: Effect


@dataclass
class Net:
    delay: float = 0.005
    wire: Callable[[Message], Message] = carry
    lose: Callable[[Message], bool] = lambda msg: False
    now: float = 0.0
    dars: dict[str, DarCore] = field(default_factory=dict)
    mns: dict[str, MnCore] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)  # MN name -> DAR address
    cn_inbox: list[Datagram] = field(default_factory=list)
    log: list[Entry] = field(default_factory=list)
    lost: list[Message] = field(default_factory=list)
    _queue: list[tuple[float, int, Any, Message]] = field(default_factory=list)
    _order: Any = field(default_factory=itertools.count)

    # ------------------------------------------------------------ set-up

    def add_dar(self, dar: DarCore) -> DarCore:
        self.dars[dar.address] = dar
        return dar

    def add_mn(self, name: str, mn: MnCore) -> MnCore:
        self.mns[name] = mn
        self.links[name] = None
        return mn

    def name(self, node: Node) -> str:
        if isinstance(node, DarCore):
            return node.address
        return next(n for n, m in self.mns.items() if m is node)

    def attach(self, name: str, dar: DarCore) -> None:
        self.links[name] = dar.address
        self._apply(self.mns[name], self.mns[name].on_link_up(self.now))

    def detach(self, name: str) -> None:
        self.links[name] = None
        self._apply(self.mns[name], self.mns[name].on_link_down(self.now))

    # ------------------------------------------------------------ driving

    def call(self, node: Node, effects: list[Effect]) -> list[Effect]:
        """Carry out effects a test obtained by calling an entry point itself."""
        self._apply(node, effects)
        return effects

    def cn_send(self, dst: str, payload: bytes, sport: int = 7000, dport: int = 7000) -> None:
        self._route(Datagram(CN, dst, sport, dport, payload), sender=None)

    def run(self, duration: float) -> None:
        """Advance the clock by ``duration``, delivering and firing timers in time order."""
        until = self.now + duration
        while True:
            nodes: list[Node] = [*self.dars.values(), *self.mns.values()]
            deadlines = [
                (d, i) for i, n in enumerate(nodes) if (d := n.next_deadline()) is not None
            ]
            t_timer, who = min(deadlines, default=(float("inf"), -1))
            t_msg = self._queue[0][0] if self._queue else float("inf")
            if min(t_timer, t_msg) > until:
                break
            if t_msg <= t_timer:
                at, _, target, msg = heapq.heappop(self._queue)
                self.now = max(self.now, at)
                self._arrive(target, msg)
            else:
                self.now = max(self.now, t_timer)
                node = nodes[who]
                self._apply(node, node.on_timer(self.now))
        self.now = until

    # ------------------------------------------------------------ looking at what happened

    def effects(self, node: Node | str | None = None, kind: type | None = None) -> list[Any]:
        name = self.name(node) if node is not None and not isinstance(node, str) else node
        return [
            e.effect
            for e in self.log
            if (name is None or e.node == name) and (kind is None or isinstance(e.effect, kind))
        ]

    def sent(self, node: Node | str | None = None, kind: type | None = None) -> list[Any]:
        return [e.msg for e in self.effects(node, Send) if kind is None or isinstance(e.msg, kind)]

    def events(self, node: Node | str | None = None) -> list[str]:
        return [e.event for e in self.effects(node, Notify)]

    def drops(self, node: Node | str | None = None) -> list[str]:
        return [e.code for e in self.effects(node, Drop)]

    def delivered(self, node: Node | str) -> list[Datagram]:
        return [e.datagram for e in self.effects(node, Deliver)]

    # ------------------------------------------------------------ internals

    def _apply(self, node: Node, effects: list[Effect]) -> None:
        sender = self.name(node)
        for effect in effects:
            self.log.append(Entry(self.now, sender, effect))
            if isinstance(effect, (Send, Forward)):
                self._route(effect.msg, sender=node)

    def _arrive(self, target: Any, msg: Message) -> None:
        if target == "cn":
            assert isinstance(msg, Datagram)
            self.cn_inbox.append(msg)
            return
        self._apply(target, target.on_message(msg, self.now))

    def _dar_of_prefix(self, address: str) -> DarCore | None:
        return next(
            (d for d in self.dars.values() if IPv6Address(address) in IPv6Network(d.prefix)), None
        )

    def _mns_on(self, dar: DarCore) -> list[MnCore]:
        return [self.mns[n] for n, link in self.links.items() if link == dar.address]

    def _targets(self, msg: Message, sender: Node | None) -> list[Any]:
        if isinstance(msg, RouterSolicitation):
            link = self.links.get(self.name(sender)) if isinstance(sender, MnCore) else None
            return [self.dars[link]] if link else []
        if isinstance(msg, RouterAdvertisement):
            assert isinstance(sender, DarCore)
            return [
                m
                for m in self._mns_on(sender)
                if msg.dst == "ff02::1" or m.current_address == msg.dst
            ]
        if msg.dst == CN:
            return ["cn"]
        if msg.dst in self.dars:
            return [self.dars[msg.dst]]
        dar = self._dar_of_prefix(msg.dst)
        if dar is None:
            return []
        if isinstance(msg, Datagram) and sender is not dar:
            return [dar]
        return [m for m in self._mns_on(dar) if m.current_address == msg.dst]

    def _route(self, msg: Message, sender: Node | None) -> None:
        targets = self._targets(msg, sender)
        if not targets or self.lose(msg):
            self.lost.append(msg)
            return
        received = self.wire(msg)
        for target in targets:
            heapq.heappush(
                self._queue, (self.now + self.delay, next(self._order), target, received)
            )
