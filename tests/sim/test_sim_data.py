"""No data is lost outside the handover gap: every byte of every kept flow sent outside the gaps
is delivered, both ways, over three handovers (DAR1 -> DAR2 -> DAR3 -> back to DAR1)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sim_world import DELAY, world

from scapy_fama import latency
from scapy_fama.crypto import KeyPair
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_flows import Direction
from scapy_fama.proto import KeepPolicy, MnConfig

SETTLE = 4.0
PATH = 3 * DELAY  # the longest path of a datagram: CN -> DAR_i -> DAR_j -> MN


def test_every_byte_outside_the_handover_gaps_is_delivered(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, mn, cn = w.net, w.mn, w.cn
    w.visit(1)
    flows = [net.flow(cn, mn, interval=0.05, size=200)]
    net.run(2)
    moves = []
    for dar in (2, 3, 1):
        moves.append(net.now)
        w.visit(dar, settle=SETTLE)
        if dar == 2:
            flows.append(net.flow(cn, mn, interval=0.05, size=300))
    net.run(2)
    end = net.now
    for flow in flows:
        flow.stop()
    net.run(1)

    # a gap runs from the move (less the path of data already on its way to the old link) to
    # the last BA that re-anchors a kept address (or confirms the de-registration from home)
    settled = ("binding-registered", "binding-deregistered")
    gaps = []
    for m in moves:
        ready = max(
            e.time
            for e in net.notices(mn)
            if m <= e.time < m + SETTLE and e.effect.event in settled
        )
        gaps.append((m - PATH, ready))
        assert ready - m < 1.2  # DAD (1 s) and one round trip to the farthest DAR

    def in_gap(at: float) -> bool:
        return any(start <= at <= stop for start, stop in gaps)

    lost_in_gaps = 0
    for flow in flows:
        for direction in (flow.down, flow.up):
            check(direction, in_gap, end)
            lost_in_gaps += len(direction.missing())
    assert lost_in_gaps > 0  # the gaps are real: what was sent into them could be lost


def check(direction: Direction, in_gap: Callable[[float], bool], end: float) -> None:
    """Everything sent outside the gaps (and before ``end``) arrived; byte counts add up."""
    outside = [s for s, at in direction.sent.items() if at < end and not in_gap(at)]
    assert outside and [s for s in outside if s not in direction.received] == []
    assert set(direction.received) <= set(direction.sent)
    assert direction.bytes_sent == direction.size * len(direction.sent)
    assert direction.bytes_received == direction.size * len(direction.received)


def test_an_echo_flow_is_a_ping_and_sees_the_interruption_by_hand(mn_key: KeyPair) -> None:
    """Echoes every 20 ms from t0; the link goes 5 ms after echo #50 (t0 + 1.000 s) and comes
    back 50 ms later at DAR 2; with no access delay the RS/RA/BU exchange takes no time, so
    DAR 1 tunnels to the new CoA from t0 + 1.055 s: #51 and #52 (1.02, 1.04 s) are lost, #53
    (1.06 s) is answered. The interruption a ping would report: 1.000 -> 1.060 s, 60 ms."""
    net = SimNet(seed=1, delay=0.0001)
    dar1, dar2 = (net.add_dar(f"dar{i}", f"2001:db8:{i}::/64", delay=0.0) for i in (1, 2))
    mn = net.add_mn("mn", keypair=mn_key, config=MnConfig(keep=KeepPolicy.ALL))
    cn = net.add_cn("cn", "2001:db8:ff::1")
    net.attach(mn, dar1)
    net.run(2)
    probe = net.flow(cn, mn, interval=0.02, echo=True)
    t0 = net.now
    net.at(t0 + 1.005, lambda: net.handover(mn, dar2, gap=0.05))
    net.run(2)
    echoes = probe.echoes()
    assert not probe.up.missing() and len(probe.up.sent) < len(probe.down.sent)  # answers only
    assert all(rtt == pytest.approx(0.0002) for _, _, rtt in echoes[:50])  # two backbone hops, nothing else
    runs, picked, elsewhere = latency.interruptions(echoes, [t0 + 1.005])
    assert [(round(a - t0, 6), round(b - t0, 6), n) for a, b, n in runs] == [(1.0, 1.06, 2)]
    assert picked == runs and elsewhere == 0


def test_a_flow_is_as_large_as_a_tunnel_carries_and_no_larger(mn_key: KeyPair) -> None:
    """The largest datagram fits the reverse and forward tunnels on the wire (RFC 8200 §3: Payload
    Length 65535 = inner IPv6 40 + UDP 8 + 65487); one byte more is refused when the flow is made
    (it failed later, inside run(), as "int too big to convert" or "cannot encode")."""
    w = world(mn_key, wire=True)
    w.visit(1)
    flow = w.net.flow(w.cn, w.mn, size=65487)
    w.net.run(1)
    native = len(flow.down.received), len(flow.up.received)
    w.visit(2)  # the flow's address is now tunnelled from dar1 to the CoA at dar2 and back
    assert len(flow.down.received) > native[0] > 0 and len(flow.up.received) > native[1] > 0
    with pytest.raises(ValueError, match="a flow needs a whole number 4 <= size <= 65487, not size=65488"):
        w.net.flow(w.cn, w.mn, size=65488)
    for tiny in (1e-9, 0.0, float("nan")):  # 1e-9 made a billion datagrams a second: 6 GB in 2 minutes
        with pytest.raises(ValueError, match=r"interval is at least 0.001 s \(1000 datagrams a second"):
            w.net.flow(w.cn, w.mn, interval=tiny)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ({"size": 100.5}, "a flow needs a whole number 4 <= size <= 65487, not size=100.5"),
        ({"size": True}, "a flow needs a whole number 4 <= size <= 65487, not size=True"),
        ({"interval": "x"}, "a flow's interval is a number of seconds, not str 'x'"),
        ({"interval": True}, "a flow's interval is a number of seconds, not bool True"),
        ({"interval": float("inf")}, "a flow's interval is at least 0.001 s (1000 datagrams a second each way) and "
                                     "finite, not inf"),
        ({"interval": -1}, "a flow's interval is at least 0.001 s (1000 datagrams a second each way) and finite, "
                           "not -1"),
    ],
)
def test_a_flow_refused_for_its_size_or_interval_leaves_no_trace(mn_key: KeyPair, bad: dict[str, object],
                                                                  error: str) -> None:
    """size=100.5 made a flow that failed inside every run() after ("cannot convert 'float' object
    to bytes"), interval "x" was "'>=' not supported between ...", True a 1 s interval and inf one
    datagram; and a refused flow still counted for the keep policy: under ``flows`` its address
    stayed anchored after the MN moved on, with no flow to stop."""
    w = world(mn_key)  # keep policy flows
    hoa1 = w.visit(1)
    with pytest.raises((TypeError, ValueError)) as refused:
        w.net.flow(w.cn, w.mn, **bad)  # type: ignore[arg-type]
    assert str(refused.value) == error and w.net.flows == []
    w.visit(2)
    assert hoa1 not in w.mn.addresses()  # no flow on it: released at the move (profile §3)


def test_flows_number_no_more_than_their_udp_ports(mn_key: KeyPair) -> None:
    """Each flow has a port of its own from 5000 (the net finds a datagram's flow by it): flow
    60,537 was made and failed inside run() with "int too big to convert" (port 65536)."""
    w = world(mn_key)
    w.visit(1)
    for _ in range(65536 - 5000):
        w.net.flow(w.cn, w.mn, interval=3600.0)
    assert w.net.flows[-1].port == 65535
    with pytest.raises(ValueError, match="^at most 60,536 flows in one net: each has a UDP port of its own, 5000 to"):
        w.net.flow(w.cn, w.mn)

