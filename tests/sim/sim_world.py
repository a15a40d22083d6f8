"""The SimNet topology of the scenario tests, and small readers of its event log.

Three DARs on one backbone with a CN, one MN, delays of 5 ms per link unless a
test says otherwise::

    cn 2001:db8:ff::1 ===== backbone =====  dar1 2001:db8:1::1  dar2 2001:db8:2::1  dar3 ...
                                              |                   |
                                              mn  ---- handover ---> mn
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scapy_fama.crypto import KeyPair
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_events import Hop
from scapy_fama.net.sim_flows import Flow
from scapy_fama.net.sim_topology import DarNode, HostNode, MnNode, Node
from scapy_fama.proto import DarConfig, MnConfig
from scapy_fama.proto.messages import (
    BindingAck,
    BindingError,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    Message,
)

CN = "2001:db8:ff::1"
EVE = "2001:db8:ee::1"  # an attacker's address on the backbone
DELAY = 0.005
SIGNALLING = (BindingUpdate, BindingAck, CareOfTestInit, CareOfTest, BindingError)


@dataclass
class World:
    net: SimNet
    dars: list[DarNode]
    cn: HostNode
    mn: MnNode

    def visit(self, i: int, settle: float = 3.0) -> str:
        """Attach (or hand over) the MN to DAR i (1-based), run ``settle`` s, return its address."""
        dar = self.dars[i - 1]
        if self.mn.link is None:
            self.net.attach(self.mn, dar)
        else:
            self.net.handover(self.mn, dar)
        self.net.run(settle)
        address = self.mn.current_address
        assert address is not None and dar.owns(address)
        return address

    def figure2(self) -> tuple[str, str, Flow, Flow]:
        """HoA1 at DAR1 with flow 1, then CoA2 at DAR2 with flow 2: (HoA1, CoA2, flow1, flow2)."""
        hoa1 = self.visit(1)
        flow1 = self.net.flow(self.cn, self.mn)
        coa2 = self.visit(2)
        return hoa1, coa2, flow1, self.net.flow(self.cn, self.mn)


def world(
    key: KeyPair,
    *,
    seed: int = 1,
    wire: bool = False,
    delay: float = DELAY,
    loss: float = 0.0,
    dar_config: DarConfig | None = None,
    **mn_config: Any,
) -> World:
    net = SimNet(seed=seed, wire=wire, delay=delay, loss=loss)
    dars = [net.add_dar(f"dar{i}", f"2001:db8:{i}::/64", config=dar_config) for i in (1, 2, 3)]
    cn = net.add_cn("cn", CN)
    mn = net.add_mn("mn", keypair=key, config=MnConfig(**{"sec": 0, **mn_config}))
    return World(net, dars, cn, mn)


def final(hop: Hop, node: Node) -> bool:
    """``hop`` brings its message to ``node`` for ``node`` (a DAR also forwards what it gets)."""
    return hop.dst == node.name and (not isinstance(node, DarNode) or node.answers(hop.msg.dst))


def arrived(net: SimNet, kind: type, at: Node, since: float = 0.0) -> list[Hop]:
    """The hops that brought a ``kind`` message to its final destination ``at``."""
    return [h for h in net.hops(kind, dst=at) if h.time >= since and final(h, at)]


def bus_to(net: SimNet, dar: DarNode, since: float = 0.0) -> list[BindingUpdate]:
    return [h.msg for h in arrived(net, BindingUpdate, dar, since)]  # type: ignore[misc]


def bas_from(net: SimNet, dar: DarNode, since: float = 0.0) -> list[BindingAck]:
    """The BAs ``dar`` sent (their first hop, lost or not)."""
    hops = net.hops(BindingAck, src=dar, lost=None)
    return [h.msg for h in hops if h.time >= since and not h.forwarded]  # type: ignore[misc]


def exchange(net: SimNet, dar: DarNode, since: float = 0.0) -> list[str]:
    """The mobility signalling that reached ``dar`` or that it sent, by type name, in order."""
    return [
        type(h.msg).__name__
        for h in net.hops(SIGNALLING)
        if h.time >= since and ((h.src == dar.name and not h.forwarded) or final(h, dar))
    ]


def notice_times(net: SimNet, node: Node, event: str, since: float = 0.0) -> list[float]:
    return [e.time for e in net.notices(node, event) if e.time >= since]


def holding_phkt_bas(net: SimNet, dar: Node) -> list[BindingAck]:
    """Hold every BA ``dar`` sends that issues a PHKT (SimNet.outbox), until ``net.outbox`` is
    reset: the list returned fills as they come, none of them sent."""
    held: list[BindingAck] = []

    def outbox(node: Node, msg: Message) -> bool:
        if node is dar and isinstance(msg, BindingAck) and msg.phkt_ciphertext:
            held.append(msg)
            return True
        return False

    net.outbox = outbox
    return held


def held_phkts(w: World, count: int) -> list[BindingAck]:
    """Hand the MN over to DAR2 while DAR1's BAs that issue a PHKT are held: the MN retransmits
    its CGA-signed BU (after 1.5 s, then 3 s) and DAR1 accepts each one with a new PHKT.
    Returns the first ``count`` such BAs, in seq order, none of them sent."""
    net = w.net
    held = holding_phkt_bas(net, w.dars[0])
    net.handover(w.mn, w.dars[1])
    assert net.run_until(lambda: len(held) == count, 10)
    net.outbox = None
    return held
