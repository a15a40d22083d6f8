"""The nodes and links of a SimNet: who is on which link, who answers which address.

Theory of operation
-------------------
Three kinds of node wrap a sans-I/O core (``on_message``, ``on_timer``,
``next_deadline``); the links between them carry delay, loss and captures::

            CN (PlainHost)          hosts on the backbone are reached by address,
               |                    DARs by the /64 they own
    ===========+================== backbone ===============================
         |                      |                      |
       DAR1 (DarCore)         DAR2                   DAR3        one access link each:
         |  access "dar1"       |  access "dar2"       |         the DAR is its router
        MN (MnCore)  ........> MN ...................> MN        handover moves the MN's
                                                                  interface between links

* :class:`Link`: a medium with a one-way ``delay`` and a ``loss`` probability
  drawn from its own seeded generator (so adding a link or a node does not
  change another link's losses). It knows its members and, for an access
  link, its router; it keeps the bytes that crossed it when the net runs
  with ``wire=True``, and writes them as a pcap (LINKTYPE_RAW: IPv6 from the
  first byte, readable by tshark).
* :class:`DarNode`, :class:`MnNode`, :class:`HostNode`: a name, a core and the
  views a test or a shell wants (bindings, BUL, addresses). ``answers`` is
  neighbour discovery in one line: the address a node takes packets for on
  its link (an MN: its current address; its core refuses data while that
  address is still tentative).
* :class:`PlainHost`: the core of a node without mobility support (a CN, or an
  attacker that injects forged messages): it takes data for its address.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from scapy.utils import RawPcapWriter

from scapy_fama.crypto import KeyPair, addr_text, prefix64
from scapy_fama.proto import DarConfig, DarCore, MnCore
from scapy_fama.proto.bul import BulEntry
from scapy_fama.proto.cache import Binding, SecurityRecord
from scapy_fama.proto.effects import Deliver, Drop, Effects, Send
from scapy_fama.proto.messages import Datagram, Message

LINKTYPE_RAW = 101  # pcap link type: the packet starts with the IP header


class PlainHost:
    """The core of a plain IPv6 host: data for its address is delivered, the rest dropped."""

    def __init__(self, address: str) -> None:
        self.address = address

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> Effects:
        return []

    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, Datagram) and msg.dst == self.address:
            return [Deliver(msg)]
        return [Drop(msg, f"not-for-me: a plain host takes data for {self.address} only")]

    def send(
        self, src: str, dst: str, sport: int, dport: int, payload: bytes, now: float
    ) -> Effects:
        return [Send(Datagram(src, dst, sport, dport, payload))]


Core = DarCore | MnCore | PlainHost


class Node:
    """A named core on the SimNet. ``timer`` is the deadline the net has scheduled for it."""

    def __init__(self, name: str, core: Core) -> None:
        self.name = name
        self.core = core
        self.timer: float | None = None

    def answers(self, address: str) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Link:
    """A medium between nodes: one-way delay, seeded loss, members, captured bytes."""

    def __init__(self, name: str, delay: float, loss: float, rng: random.Random) -> None:
        self.name = name
        self.delay = delay
        self.loss = loss
        self.router: Node | None = None  # the DAR of an access link
        self.members: dict[str, Node] = {}  # in joining order, for a deterministic multicast
        self.captures: list[tuple[float, bytes]] = []
        self._rng = rng

    def __repr__(self) -> str:
        return f"<Link {self.name} delay={self.delay} loss={self.loss} {list(self.members)}>"

    def lost(self) -> bool:
        """One draw of the link's loss (no draw at all on a lossless link)."""
        return self.loss > 0 and self._rng.random() < self.loss

    def neighbours(self, dst: str, sender: Node, *, multicast: bool) -> list[Node]:
        """The members that take a packet for ``dst``: all others for multicast."""
        if multicast:
            return [n for n in self.members.values() if n is not sender]
        return [n for n in self.members.values() if n is not sender and n.answers(dst)]

    def write_pcap(self, path: Path) -> None:
        writer = RawPcapWriter(str(path), linktype=LINKTYPE_RAW)
        writer.write_header(None)  # an empty link still gets a readable file
        for when, raw in self.captures:
            usec = round(when * 1e6)
            writer.write_packet(raw, sec=usec // 1_000_000, usec=usec % 1_000_000)
        writer.close()


class DarNode(Node):
    """A DAR: its DarCore, its access link (it is the router there) and a seat on the backbone."""

    core: DarCore

    def __init__(
        self,
        name: str,
        address: str,
        prefix: str,
        access: Link,
        rand: Callable[[int], bytes],
        *,
        config: DarConfig,
        keypair: KeyPair | None,
        cga_params: bytes | None,
    ) -> None:
        self._args = (address, prefix, config, keypair, cga_params)
        super().__init__(name, self.spawn(rand))
        self.access = access
        self.prefix_bytes = prefix64(self.core.prefix)

    def spawn(self, rand: Callable[[int], bytes]) -> DarCore:
        """A fresh core with this DAR's address, prefix and configuration (start, restart)."""
        address, prefix, config, keypair, cga_params = self._args
        return DarCore(
            address, prefix, config=config, rand=rand, keypair=keypair, cga_params=cga_params
        )

    @property
    def address(self) -> str:
        return self.core.address

    @property
    def prefix(self) -> str:
        return self.core.prefix

    def owns(self, address: str) -> bool:
        return prefix64(address) == self.prefix_bytes

    def answers(self, address: str) -> bool:
        return address in (self.core.address, self.core.link_local)

    def bindings(self) -> list[Binding]:
        return self.core.bindings()

    def binding(self, hoa: str) -> Binding | None:
        return self.core.binding(hoa)

    def record(self, hoa: str) -> SecurityRecord | None:
        return self.core.record(hoa)


class MnNode(Node):
    """A mobile node: its MnCore and the access link its interface is on (None: detached)."""

    core: MnCore

    def __init__(self, name: str, core: MnCore) -> None:
        super().__init__(name, core)
        self.link: Link | None = None

    @property
    def current_address(self) -> str | None:
        return self.core.current_address

    def addresses(self) -> list[str]:
        return self.core.addresses()

    def bul(self) -> dict[str, BulEntry]:
        """The Binding Update List: the entry of every address the MN holds."""
        return {a: record.bul for a in self.core.addresses() if (record := self.core.record(a))}

    def answers(self, address: str) -> bool:
        return address == self.core.current_address


class HostNode(Node):
    """A plain host (a CN, or an attacker) with one address on one link."""

    core: PlainHost

    def __init__(self, name: str, address: str, link: Link) -> None:
        super().__init__(name, PlainHost(addr_text(address)))
        self.link = link

    @property
    def address(self) -> str:
        return self.core.address

    def answers(self, address: str) -> bool:
        return address == self.core.address
