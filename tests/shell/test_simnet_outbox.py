"""SimNet.outbox, the hook the shell's breakpoints stand on: a taken message never leaves,
an injected copy goes on as if it had, forwarded packets are never offered."""

from __future__ import annotations

from scapy_fama.codec import encode_bytes
from scapy_fama.crypto import KeyPair
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_topology import Node
from scapy_fama.proto import MnConfig
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Message


def _net(key: KeyPair) -> SimNet:
    net = SimNet(seed=3, wire=True)
    for i in (1, 2):
        net.add_dar(f"dar{i}", f"2001:db8:{i}::/64")
    net.add_cn("cn", "2001:db8:ff::1")
    net.add_mn("mn", keypair=key, config=MnConfig(sec=0))
    return net


def test_outbox_takes_sent_bus_and_inject_sends_them_on(mn_key: KeyPair) -> None:
    net = _net(mn_key)
    mn, dar1, dar2 = net.node("mn"), net.node("dar1"), net.node("dar2")
    offered: list[tuple[str, Message]] = []
    taken: list[BindingUpdate] = []

    def outbox(node: Node, msg: Message) -> bool:
        offered.append((node.name, msg))
        if isinstance(msg, BindingUpdate) and not taken:
            taken.append(msg)
            return True
        return False

    net.attach(mn, dar1)  # type: ignore[arg-type]
    net.run(2)
    net.flow(net.node("cn"), mn)  # type: ignore[arg-type]
    net.outbox = outbox
    net.handover(mn, dar2)  # type: ignore[arg-type]
    net.run(1.2)  # before the 1.5 s retransmission
    assert len(taken) == 1 and net.hops(BindingUpdate) == []  # held: nothing on any link
    assert all(not isinstance(m, BindingUpdate) or m is taken[0] for _, m in offered)
    net.inject(mn, encode_bytes(taken[0]))
    net.run(0.2)
    assert [h.dst for h in net.hops(BindingUpdate)] == ["dar2", "dar1"]  # forwarded hop not offered
    assert [h.msg.status for h in net.hops(BindingAck, src=dar1)] == [0]
    assert [b.hoa for b in dar1.bindings()] == [taken[0].hoa]  # type: ignore[attr-defined]
    assert all(name != "dar2" or not isinstance(m, BindingUpdate) for name, m in offered)
