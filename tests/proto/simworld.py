"""The cores' scenario tests run on SimNet (``scapy_fama.net.sim``), seen from the cores' side.

Three DARs (``dar1``..``dar3``, addresses 2001:db8:{1,2,3}::1 of topology.py), a CN on the
backbone, one MN; every link 5 ms one way. SimNet's event log shows what crossed the links as
the receivers got them (signed, authenticated); these tests also want what a core *asked* for
(``sign_with``, ``auth_key``), so :class:`World` taps the net's ``outbox``, which sees every
message a core sends and lets it go on::

    core --Send(BU sign_with=key)--> outbox tap (World.log) --> SimNet carrier --> receiver

``wire=True`` runs the same through real bytes (the codec); otherwise SimNet's object carrier
(:func:`scapy_fama.net.sim_carry.received`) is the one stand-in codec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from topology import CN

from scapy_fama.crypto import KeyPair
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_carry import received
from scapy_fama.net.sim_events import NodeEffect
from scapy_fama.net.sim_topology import DarNode, MnNode, Node
from scapy_fama.proto import DarConfig, MnConfig
from scapy_fama.proto.effects import Deliver, Drop, Effect, Effects, Notify, Send
from scapy_fama.proto.messages import BindingUpdate, Datagram, Message

PREFIXES = ("2001:db8:1::/64", "2001:db8:2::/64", "2001:db8:3::/64")
DELAY = 0.005  # one way, every link
FOREVER = 10**9  # transmissions a loss rule of a test applies to


@dataclass(frozen=True)
class Entry:
    """One effect of one node, a Send included, at a time."""

    at: float
    node: str
    effect: Effect


class World:
    """The SimNet of a test, with the taps and readers the core tests use."""

    def __init__(
        self,
        key: KeyPair,
        dar_config: DarConfig = DarConfig(),
        *,
        wire: bool = False,
        dars: list[dict[str, Any]] | None = None,
        **mn_config: Any,
    ) -> None:
        self.net = SimNet(seed=1, wire=wire, delay=DELAY)
        extra = dars or [{}] * len(PREFIXES)
        self.dars: list[DarNode] = [
            self.net.add_dar(f"dar{i}", prefix, **{"config": dar_config, **options})
            for i, (prefix, options) in enumerate(zip(PREFIXES, extra), 1)
        ]
        self.cn = self.net.add_cn("cn", CN)
        self.node: MnNode = self.net.add_mn("mn", keypair=key, config=MnConfig(**mn_config))
        self.mn = self.node.core
        self._sends: list[Entry] = []
        self.net.outbox = self._tap

    def _tap(self, node: Node, msg: Message) -> bool:
        self._sends.append(Entry(self.net.now, node.name, Send(msg)))
        return False  # let it go on

    # ------------------------------------------------------------ moving and time

    @property
    def now(self) -> float:
        return self.net.now

    def attach(self, i: int) -> None:
        """Bring the MN onto DAR ``i``'s link (0-based), from wherever it is."""
        if self.node.link is None:
            self.net.attach(self.node, self.dars[i])
        else:
            self.net.handover(self.node, self.dars[i])

    def visit(self, i: int, settle: float = 2.0) -> str:
        """Attach to DAR ``i``, run ``settle`` seconds; the MN's current address."""
        self.attach(i)
        self.net.run(settle)
        address = self.mn.current_address
        assert address is not None
        return address

    def detach(self) -> None:
        self.net.detach(self.node)

    def run(self, seconds: float) -> None:
        self.net.run(seconds)

    def lose(self, match: Any) -> None:
        """From now on, lose every transmission whose message matches."""
        self.net.lose(match, FOREVER)

    # ------------------------------------------------------------ calling the cores

    def call(self, entry: Any, node: Node | None = None) -> Effects:
        """Call an entry point of the MN's core (or ``node``'s) and carry out its effects."""
        return self.net.call(node or self.node, entry)

    def feed(self, msg: Message) -> Effects:
        """Hand the MN a message as a carrier delivers it (forged or not) and carry out what
        it does."""
        return self.call(lambda: self.mn.on_message(received(msg), self.now))

    def cn_send(self, dst: str, payload: bytes, port: int = 7000) -> None:
        self.net.send_data(self.cn, CN, dst, port, payload)

    # ------------------------------------------------------------ reading what happened

    def log(self) -> list[Entry]:
        """Every node's effects, Sends included, in time order."""
        effects = [
            Entry(e.time, e.node, e.effect) for e in self.net.events if isinstance(e, NodeEffect)
        ]
        return sorted(effects + self._sends, key=lambda e: e.at)

    def effects(self, kind: type | None = None, node: str = "mn") -> list[Any]:
        return [
            e.effect
            for e in self.log()
            if e.node == node and (kind is None or isinstance(e.effect, kind))
        ]

    def sent(self, kind: type | None = None, node: str = "mn") -> list[Any]:
        """The messages ``node``'s core sent, as it sent them (instructions included)."""
        return [e.msg for e in self.effects(Send, node) if kind is None or isinstance(e.msg, kind)]

    def bus(self, hoa: str | None = None) -> list[tuple[float, BindingUpdate]]:
        """The BUs the MN sent (for ``hoa`` only, if given), with their times."""
        return [
            (e.at, e.effect.msg)
            for e in self._sends
            if e.node == "mn"
            and isinstance(e.effect.msg, BindingUpdate)
            and hoa in (None, e.effect.msg.home_address)
        ]

    def events(self, node: str = "mn") -> list[str]:
        return [e.event for e in self.effects(Notify, node)]

    def notice_times(self, event: str, node: str = "mn", since: float = 0.0) -> list[float]:
        return [
            e.at
            for e in self.log()
            if e.node == node and e.at >= since
            and isinstance(e.effect, Notify) and e.effect.event == event
        ]  # fmt: skip

    def drops(self, node: str = "mn") -> list[str]:
        return [e.code for e in self.effects(Drop, node)]

    def delivered(self, node: str = "mn") -> list[Datagram]:
        return [e.datagram for e in self.effects(Deliver, node)]
