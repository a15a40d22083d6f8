"""SimNet: DARs, MNs and CNs on virtual links, driven by a virtual clock (DESIGN.md "Drivers").

Theory of operation
-------------------
Each node wraps a sans-I/O core (:mod:`scapy_fama.proto`); the net carries
out the effects the cores return. ``Send`` and ``Forward`` become transmissions
over a link, arriving ``delay`` later unless the link's seeded loss (or a fault
set with :meth:`SimNet.lose`) eats them; the other effects go to the event log,
``Deliver`` also to the flow it belongs to. After every call into a core the
net asks ``next_deadline()`` and schedules ``on_timer``; a timer that is due
fires before anything else reaches the core (the cores' contract). The clock jumps from
one scheduled action to the next (:mod:`scapy_fama.net.sim_clock`), so a
handover with a 1 s DAD takes microseconds of wall time.

Routing is a router's, in a few lines::

    sender          destination                          next hop
    MN / host on    anything                             the link's DAR (its default router)
      an access link
    DAR             multicast, link-local, own prefix    neighbours on its access link that
                                                         answer the address (all, for multicast)
    DAR, backbone   a backbone host's address            that host (the CN)
      host          an address of DAR_k's prefix         DAR_k, which tunnels it to the CoA if
                                                         it holds a binding, else puts it on
                                                         its access link

so a packet for HoA_1 goes CN -> DAR1 -> (tunnel) -> DAR2 -> MN, a BU from the
CoA goes MN -> DAR2 -> DAR1, and reverse-tunnelled data MN -> DAR2 -> DAR1 ->
CN. A handover moves the MN's interface to another access link
(``on_link_down``, then ``on_link_up`` there); a message in flight to a node
that has left the link is lost (:class:`~scapy_fama.net.sim_events.Undelivered`).

DAD is the net's part, as it is a driver's (profile §2 step 3): when an MN's
core starts DAD on an address (``address-optimistic`` or ``address-tentative``)
and another member of its link answers that address, the probe's answer comes
back one round trip later (NS out, NA back) as ``on_dad_collision`` and a
``dad-collision`` change in the log. ``add_cn(..., on=dar)`` puts such a member
on an access link.

A driver above the net (the shell's breakpoints) may set ``outbox``, a
function ``(node, message) -> bool`` called with every message a core asks to
send (a ``Send`` effect; not forwarded packets, not :meth:`SimNet.inject`):
returning True takes the message off the net, as if the node's interface had
swallowed it, so that the driver can hold it and later :meth:`SimNet.inject`
it, edited or not, or never. The core is not told: it behaves as after a loss.

With ``wire=True`` every transmission goes through real bytes
(:mod:`scapy_fama.codec`), kept per link for :meth:`SimNet.pcaps`; the event
sequence is the same as without (signatures and authenticators aside, see
:func:`~scapy_fama.net.sim_events.fingerprint`). Every random choice (each
core's ``rand``, each link's loss) comes from its own generator seeded with
``(seed, what, name)``: the same seed and the same keys give the same events.

Example (three DARs, two moves, two flows, the caches and the pcaps)::

    from scapy_fama.crypto import KeyPair
    from scapy_fama.net.sim import SimNet
    from scapy_fama.proto import MnConfig

    net = SimNet(seed=1, wire=True)
    dar1, dar2, dar3 = (net.add_dar(f"dar{i}", f"2001:db8:{i}::/64") for i in (1, 2, 3))
    cn = net.add_cn("cn", "2001:db8:ff::1")
    mn = net.add_mn("mn", keypair=KeyPair.generate(1024), config=MnConfig(sec=0))
    net.attach(mn, dar1); net.run(2)
    flow1 = net.flow(cn, mn)                  # on HoA1: keeps it anchored at dar1
    net.handover(mn, dar2); net.run(3)        # BU to dar1, tunnel dar1 <-> CoA2
    flow2 = net.flow(cn, mn)                  # on CoA2, native at dar2
    net.handover(mn, dar3); net.run(3)        # BUs to dar1 (PHKT) and dar2 (CGA)
    print(net.report())                       # each flow's data, binding caches, BULs
    net.pcaps("out")                          # out/backbone.pcap, out/dar1.pcap, ...
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv6Network
from pathlib import Path
from typing import TypeVar

from scapy.packet import Packet

from scapy_fama.crypto import KeyPair, addr_bytes, prefix64
from scapy_fama.net.sim_carry import Carrier, ObjectCarrier, WireCarrier
from scapy_fama.net.sim_clock import Action, Scheduler
from scapy_fama.net.sim_events import Change, Event, Hop, NodeEffect, Undelivered
from scapy_fama.net.sim_flows import Flow
from scapy_fama.net.sim_topology import DarNode, HostNode, Link, MnNode, Node
from scapy_fama.proto import DarConfig, MnConfig, MnCore
from scapy_fama.proto.effects import Deliver, Effects, Forward, Notify, Send
from scapy_fama.proto.messages import Message

N = TypeVar("N", bound=Node)
BACKBONE = "backbone"
FIRST_FLOW_PORT = 5000
MAX_FLOWS = 65536 - FIRST_FLOW_PORT  # one UDP port each, FIRST_FLOW_PORT to 65535 (RFC 768: 16 bits)
LINK_LOCAL = b"\xfe\x80"
DAD_EVENTS = ("address-optimistic", "address-tentative")  # an MN core starts DAD (a probe)
TIMER_SPIN_LIMIT = 1000  # on_timer calls of one node at one instant before the net calls it a bug


@dataclass
class _Fault:
    """Lose the next ``left`` transmissions whose message matches."""

    match: Callable[[Message], bool]
    left: int


def _link_scope(raw: bytes) -> bool:
    """Multicast or link-local (``raw``: the address's 16 bytes): never routed off the link."""
    return raw[0] == 0xFF or raw[:2] == LINK_LOCAL


class SimNet:
    """A simulated FAMA network: build it, move MNs, run flows, read ``events``."""

    def __init__(
        self, seed: int = 0, *, wire: bool = False, delay: float = 0.005, loss: float = 0.0
    ) -> None:
        """``delay`` and ``loss`` are the defaults of every link (each can be changed)."""
        self.seed = seed
        self.wire = wire
        self.events: list[Event] = []
        self.flows: list[Flow] = []
        self._clock = Scheduler()
        self._carrier: Carrier = WireCarrier() if wire else ObjectCarrier()
        self._delay = delay
        self._loss = loss
        self.backbone = Link(BACKBONE, delay, loss, self._rng("link", BACKBONE))
        self._nodes: dict[str, Node] = {}
        self._prefixes: dict[bytes, DarNode] = {}  # routes on the backbone
        self._hosts: dict[str, HostNode] = {}  # backbone hosts by address
        self._faults: list[_Fault] = []
        self._spins: dict[str, tuple[float, int]] = {}  # node -> (instant, on_timer calls)
        self._restarts: dict[str, int] = {}
        # takes a message a core sends off the net when it returns True (see the module's docstring)
        self.outbox: Callable[[Node, Message], bool] | None = None

    # ---------------------------------------------------------------- building

    def _rng(self, *what: object) -> random.Random:
        return random.Random("/".join(map(str, (self.seed, *what))))  # str seeds hash stably

    def _name(self, name: str) -> str:
        if name in self._nodes or name == BACKBONE:
            raise ValueError(f"the name {name!r} is taken")
        return name

    def add_dar(
        self,
        name: str,
        prefix: str,
        *,
        address: str | None = None,
        config: DarConfig | None = None,
        keypair: KeyPair | None = None,
        cga_params: bytes | None = None,
        delay: float | None = None,
        loss: float | None = None,
    ) -> DarNode:
        """A DAR for ``prefix`` (address ``::1`` of it unless given) with its own access link.

        ``keypair`` and ``cga_params`` (the DAR's own CGA, which ``address`` must
        then be) let it sign BAs on request. ``delay``/``loss`` are its access link's.
        """
        network = IPv6Network(prefix)
        if prefix64(str(network.network_address)) in self._prefixes:
            raise ValueError(f"another DAR already owns {network}")
        access = Link(
            self._name(name),
            self._delay if delay is None else delay,
            self._loss if loss is None else loss,
            self._rng("link", name),
        )
        dar = DarNode(
            name,
            address or str(network.network_address + 1),
            str(network),
            access,
            self._rng("node", name).randbytes,
            config=config or DarConfig(),
            keypair=keypair,
            cga_params=cga_params,
        )
        access.router = dar
        access.members[name] = dar
        self.backbone.members[name] = dar
        self._prefixes[prefix64(dar.prefix)] = dar
        return self._add(dar)

    def add_mn(
        self, name: str, *, keypair: KeyPair | None = None, config: MnConfig | None = None
    ) -> MnNode:
        """A detached MN. Pass ``keypair`` for repeatable runs (its CGAs depend on it);
        without one a fresh RSA-1024 key is made."""
        rand = self._rng("node", self._name(name)).randbytes
        core = MnCore(keypair or KeyPair.generate(1024), config=config or MnConfig(), rand=rand)
        return self._add(MnNode(name, core))

    def add_cn(self, name: str, address: str, *, on: DarNode | None = None) -> HostNode:
        """A plain host (a CN, or an attacker): on the backbone, or on ``on``'s access link."""
        link = self.backbone if on is None else on.access
        host = HostNode(self._name(name), address, link)
        owner = self._prefixes.get(prefix64(host.address))
        if owner is not on:
            where = f"{on.name}'s access link" if on else "the backbone"
            raise ValueError(f"{host.address} cannot be on {where} (prefix owned by {owner})")
        if on is None:
            self._hosts[host.address] = host
        link.members[name] = host
        return self._add(host)

    def _add(self, node: N) -> N:
        self._nodes[node.name] = node
        self._rearm(node)
        return node

    def node(self, name: str) -> Node:
        return self._nodes[name]

    @property
    def nodes(self) -> dict[str, Node]:
        return dict(self._nodes)

    def link(self, which: str | DarNode = BACKBONE) -> Link:
        """The backbone, or the access link of a DAR (by node or name); set ``.delay``/``.loss``."""
        if which == BACKBONE:
            return self.backbone
        dar = which if isinstance(which, DarNode) else self._nodes[which]
        if not isinstance(dar, DarNode):
            raise TypeError(f"{which!r} is not a DAR: only DARs have access links")
        return dar.access

    def links(self) -> list[Link]:
        return [self.backbone] + [n.access for n in self._nodes.values() if isinstance(n, DarNode)]

    # ---------------------------------------------------------------- mobility and faults

    def attach(self, mn: MnNode, dar: DarNode) -> None:
        """Bring the detached ``mn``'s interface up on ``dar``'s access link."""
        if mn.link is not None:
            raise ValueError(f"{mn.name} is on {mn.link.name}: use handover()")
        self._link_up(mn, dar.access)

    def detach(self, mn: MnNode) -> None:
        if mn.link is None:
            raise ValueError(f"{mn.name} is not attached")
        link = mn.link
        del link.members[mn.name]
        mn.link = None
        self.events.append(Change(self.now, mn.name, "link-down", link.name))
        self.call(mn, lambda: mn.core.on_link_down(self.now))

    def handover(self, mn: MnNode, dar: DarNode, *, gap: float = 0.0) -> None:
        """Move ``mn`` to ``dar``'s link, ``gap`` seconds without any link in between."""
        self.detach(mn)
        if gap > 0:
            self.after(gap, partial(self._link_up, mn, dar.access))
        else:
            self._link_up(mn, dar.access)

    def _link_up(self, mn: MnNode, link: Link) -> None:
        link.members[mn.name] = mn
        mn.link = link
        self.events.append(Change(self.now, mn.name, "link-up", link.name))
        self.call(mn, lambda: mn.core.on_link_up(self.now))

    def restart(self, dar: DarNode) -> None:
        """The DAR reboots: a fresh core, empty binding cache and security records."""
        count = self._restarts[dar.name] = self._restarts.get(dar.name, 0) + 1
        dar.core = dar.spawn(self._rng("node", dar.name, "restart", count).randbytes)
        dar.timer = None
        self.events.append(Change(self.now, dar.name, "restart"))
        self._rearm(dar)

    def lose(self, match: type | Callable[[Message], bool], count: int = 1) -> None:
        """Lose the next ``count`` transmissions (link hops) of messages of a type, or matching."""
        test = (lambda msg: isinstance(msg, match)) if isinstance(match, type) else match
        self._faults.append(_Fault(test, count))

    # ---------------------------------------------------------------- traffic

    def flow(
        self,
        cn: HostNode,
        mn: MnNode,
        *,
        address: str | None = None,
        interval: float = 0.1,
        size: int = 100,
        echo: bool = False,
    ) -> Flow:
        """Datagrams both ways between ``cn`` and ``address`` (default: the MN's current one);
        ``echo``: the MN only answers the CN's (a ping, :meth:`Flow.echoes`)."""
        address = address or mn.current_address
        if address is None or address not in mn.addresses():
            raise ValueError(f"{mn.name} holds no address {address} to run a flow on")
        if len(self.flows) >= MAX_FLOWS:  # stopped ones too: a flow's port is its index (_deliver)
            raise ValueError(f"at most {MAX_FLOWS:,} flows in one net: each has a UDP port of its own, "
                             f"{FIRST_FLOW_PORT} to 65535")  # fmt: skip
        flow = Flow(cn, mn, address, FIRST_FLOW_PORT + len(self.flows), interval=interval, size=size,
                    driver=self, echo=echo)  # its interval and size checked before the keep policy counts it
        mn.core.open_flow(address)
        self.flows.append(flow)
        return flow

    def inject(self, node: Node, message: Message | Packet | bytes) -> None:
        """Send ``message`` as ``node`` (a forgery, a replay): a Message object, a Scapy
        packet or IPv6 bytes. ``sign_with``/``auth_key`` of a Message are honoured."""
        if isinstance(message, (Packet, bytes)):
            message, _ = self._carrier.parse(message)
        self._transmit(node, message, forwarded=False)

    # FlowDriver
    def send_data(self, node: Node, src: str, dst: str, port: int, payload: bytes) -> None:
        self.call(node, lambda: node.core.send(src, dst, port, port, payload, self.now))

    def close_flow(self, mn: MnNode, address: str) -> None:
        if address in mn.addresses():  # an address reported lost has no flows left to close
            self.call(mn, lambda: mn.core.close_flow(address, self.now))

    # ---------------------------------------------------------------- time

    @property
    def now(self) -> float:
        return self._clock.now

    def at(self, when: float, action: Action) -> None:
        self._clock.at(when, action)

    def after(self, delay: float, action: Action) -> None:
        self._clock.at(self.now + delay, action)

    def step(self) -> bool:
        """Run the next scheduled action (clock jumps to it); False when nothing is scheduled."""
        return self._clock.step()

    def run(self, seconds: float) -> None:
        """Run everything due in the next ``seconds`` of virtual time."""
        self._clock.run(self.now + seconds)

    def run_until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Run until ``predicate()`` holds (checked after each action) or ``timeout`` passes."""
        end = self.now + timeout
        while not predicate():
            upcoming = self._clock.next_time()
            if upcoming is None or upcoming > end:
                self._clock.run(end)
                return False
            self._clock.step()
        return True

    @property
    def steps(self) -> int:
        """Actions run so far (arrivals, timers, flow ticks, scheduled calls)."""
        return self._clock.steps

    # ---------------------------------------------------------------- looking

    def hops(
        self,
        kind: type | tuple[type, ...] | None = None,
        *,
        src: Node | str | None = None,
        dst: Node | str | None = None,
        link: str | None = None,
        lost: bool | None = False,
    ) -> list[Hop]:
        """Transmissions, filtered (``lost=None``: lost or not)."""
        src_name = src.name if isinstance(src, Node) else src
        dst_name = dst.name if isinstance(dst, Node) else dst
        return [
            e
            for e in self.events
            if isinstance(e, Hop)
            and (kind is None or isinstance(e.msg, kind))
            and src_name in (None, e.src)
            and dst_name in (None, e.dst)
            and link in (None, e.link)
            and (lost is None or lost == (e.lost is not None))
        ]

    def effects(self, node: Node | str | None = None, kind: type | None = None) -> list[NodeEffect]:
        """The non-transmission effects of ``node`` (all nodes: None), of one ``kind`` if given."""
        name = node.name if isinstance(node, Node) else node
        return [
            e
            for e in self.events
            if isinstance(e, NodeEffect)
            and name in (None, e.node)
            and (kind is None or isinstance(e.effect, kind))
        ]

    def notices(self, node: Node | str | None = None, event: str | None = None) -> list[NodeEffect]:
        """The Notify effects of ``node`` (all nodes: None), of one ``event`` name if given."""
        return [
            e
            for e in self.effects(node, Notify)
            if event is None or e.effect.event == event  # type: ignore[union-attr]
        ]

    def pcaps(self, directory: str | Path) -> dict[str, Path]:
        """Write one pcap per link (``<link>.pcap``, raw IPv6); needs ``wire=True``."""
        if not self.wire:
            raise ValueError("pcaps need the bytes: build the SimNet with wire=True")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for link in self.links():
            paths[link.name] = out / f"{link.name}.pcap"
            link.write_pcap(paths[link.name])
        return paths

    def report(self) -> str:
        """Flows, binding caches and BULs as text."""
        lines = [f"t = {self.now:g} s, {len(self.events)} events"]
        lines += [str(flow) for flow in self.flows]
        for node in self._nodes.values():
            if isinstance(node, DarNode):
                lines.append(f"{node.name} {node.address} binding cache:")
                lines += [f"  {b.hoa} -> {b.coa} until {b.expires:g}" for b in node.bindings()]
            elif isinstance(node, MnNode):
                where = node.link.name if node.link else "detached"
                lines.append(f"{node.name} on {where}, current {node.current_address}, BUL:")
                lines += [
                    f"  {a} @ {e.dar}: {e.state.value} seq {e.seq} via {e.coa}"
                    for a, e in node.bul().items()
                    if a != node.current_address  # native: nothing to bind
                ]
        return "\n".join(lines)

    # ---------------------------------------------------------------- carrying out effects

    def call(self, node: Node, entry: Callable[[], Effects]) -> Effects:
        """Call an entry point of ``node``'s core (``entry``, which passes ``now`` itself), its
        due timer first (the cores' contract), carry out the effects and return them: how a
        driver above the net (a test, the shell) pins an address, closes a flow or hands a core
        a message of its own making."""
        if node.timer is not None and node.timer <= self.now:
            self._fire(node, node.timer)
        effects = entry()
        self._apply(node, effects)
        return effects

    def _apply(self, node: Node, effects: Effects) -> None:
        for effect in effects:
            if isinstance(effect, (Send, Forward)):
                taken = isinstance(effect, Send) and self.outbox and self.outbox(node, effect.msg)
                if not taken:
                    self._transmit(node, effect.msg, forwarded=isinstance(effect, Forward))
                continue
            self.events.append(NodeEffect(self.now, node.name, effect))
            if isinstance(effect, Deliver):
                self._deliver(node, effect)
            elif isinstance(effect, Notify) and effect.event in DAD_EVENTS:
                assert isinstance(node, MnNode)
                self._probe(node, str(effect.data["address"]))
        self._rearm(node)

    def _probe(self, mn: MnNode, address: str) -> None:
        """RFC 4862 §5.4: another member of the link that holds ``address`` answers the probe."""
        link = mn.link
        if link is not None and any(
            n is not mn and n.answers(address) for n in link.members.values()
        ):
            self.after(2 * link.delay, partial(self._collide, mn, link, address))

    def _collide(self, mn: MnNode, link: Link, address: str) -> None:
        if mn.link is not link:  # the MN left before the answer came
            return
        self.events.append(Change(self.now, mn.name, "dad-collision", link.name))
        self.call(mn, lambda: mn.core.on_dad_collision(address, self.now))

    def _transmit(self, node: Node, msg: Message, *, forwarded: bool) -> None:
        route = self._route(node, msg)
        if isinstance(route, str):
            self.events.append(Undelivered(self.now, node.name, None, msg, route))
            return
        link, receivers = route
        received, raw = self._carrier.carry(msg)
        if raw is not None:
            link.captures.append((self.now, raw))
        arrival = self.now + link.delay
        for receiver in receivers:
            lost = self._fault(received) or ("loss" if link.lost() else None)
            self.events.append(
                Hop(
                    self.now,
                    arrival,
                    link.name,
                    node.name,
                    receiver.name,
                    received,
                    forwarded,
                    lost,
                )
            )
            if lost is None:
                self._clock.at(arrival, partial(self._arrive, link, receiver, received))

    def _route(self, node: Node, msg: Message) -> tuple[Link, list[Node]] | str:
        """The link and next hops of ``msg`` sent by ``node``, or why there are none."""
        dst = msg.dst
        raw = addr_bytes(dst)
        if isinstance(node, DarNode):
            if not (_link_scope(raw) or raw[:8] == node.prefix_bytes):
                return self._upstream(node, dst, raw)
            link = node.access
        else:
            link = node.link  # type: ignore[attr-defined]
            if link is None:
                return f"detached: {node.name} is on no link"
            if link is self.backbone:
                return self._upstream(node, dst, raw)
            assert link.router is not None  # every access link has its DAR
            return link, [link.router]
        neighbours = link.neighbours(dst, node, multicast=raw[0] == 0xFF)
        if not neighbours and not _link_scope(raw):
            return f"no-neighbour: nobody on {link.name} answers {dst}"
        return link, neighbours

    def _upstream(self, node: Node, dst: str, raw: bytes) -> tuple[Link, list[Node]] | str:
        target = self._hosts.get(dst) or self._prefixes.get(raw[:8])
        if target is None or target is node:
            return f"no-route: nothing on the backbone owns {dst}"
        return self.backbone, [target]

    def _fault(self, msg: Message) -> str | None:
        for fault in self._faults:
            if fault.match(msg):
                fault.left -= 1
                self._faults = [f for f in self._faults if f.left > 0]
                return "fault"
        return None

    def _arrive(self, link: Link, node: Node, msg: Message) -> None:
        if link.members.get(node.name) is not node:
            reason = f"left-link: {node.name} is no longer on {link.name}"
            self.events.append(Undelivered(self.now, node.name, link.name, msg, reason))
            return
        self.call(node, lambda: node.core.on_message(msg, self.now))

    def _deliver(self, node: Node, effect: Deliver) -> None:
        datagram = effect.datagram
        index = datagram.dport - FIRST_FLOW_PORT
        if 0 <= index < len(self.flows) and node in (self.flows[index].cn, self.flows[index].mn):
            self.flows[index].arrived(node, datagram.payload)

    def _rearm(self, node: Node) -> None:
        """Schedule the core's next deadline (earlier schedulings of the node go stale)."""
        deadline = node.core.next_deadline()
        if deadline != node.timer:
            node.timer = deadline
            if deadline is not None:
                self._clock.at(deadline, partial(self._fire, node, deadline))

    def _fire(self, node: Node, deadline: float) -> None:
        if node.timer != deadline:  # stale: the core has moved its deadline since
            return
        instant, calls = self._spins.get(node.name, (-1.0, 0))
        calls = calls + 1 if instant == self.now else 1
        if calls > TIMER_SPIN_LIMIT:
            raise RuntimeError(
                f"{node.name}'s core keeps its deadline at {deadline} after on_timer({self.now})"
            )
        self._spins[node.name] = (self.now, calls)
        node.timer = None
        self._apply(node, node.core.on_timer(self.now))
