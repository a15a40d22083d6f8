"""A crowd moving together, a limit of the cores that SimNet made visible.

50 MNs (a bus) leave DAR1's link for DAR2's, each with a flow on its DAR1 address. Their 50
CGA-signed BUs reach DAR1 from one source /64 at once; the DoS guard's per-prefix budget
(burst 5, then 10/s) verifies 5 and answers BA 130 to the rest (profile §6). Without jitter
every refused MN retried on the same back-off schedule (1.5 s, 3 s, 6 s ..., profile §7), met
an empty bucket again, and 20 of 50 gave up; the MN now retries after a 130 at a random point
of 0.5-1.5x its wait, so the crowd gets through whether it arrives spread over a second or at
one instant.
"""

from __future__ import annotations

from functools import partial

from sim_world import CN

from scapy_fama.crypto import KeyPair
from scapy_fama.net.sim import SimNet
from scapy_fama.proto import MnConfig
from scapy_fama.proto.messages import BindingAck

CROWD = 50


def crowd_moves(key: KeyPair, spread: float) -> SimNet:
    net = SimNet(seed=1)
    dar1, dar2 = net.add_dar("dar1", "2001:db8:1::/64"), net.add_dar("dar2", "2001:db8:2::/64")
    cn = net.add_cn("cn", CN)
    mns = [net.add_mn(f"mn{i}", keypair=key, config=MnConfig(sec=0)) for i in range(CROWD)]
    for mn in mns:
        net.attach(mn, dar1)
    net.run(3)
    for i, mn in enumerate(mns):
        net.flow(cn, mn, interval=1.0)
        net.after(spread * i / CROWD, partial(net.handover, mn, dar2))
    net.run(90)
    return net


def test_a_crowd_spread_over_one_second_gets_through_slowly(mn_key: KeyPair) -> None:
    net = crowd_moves(mn_key, spread=1.0)
    statuses = [h.msg.status for h in net.hops(BindingAck, src="dar1")]
    assert statuses.count(0) == CROWD and statuses.count(130) > CROWD // 2  # many refusals first
    assert len(net.notices(event="binding-registered")) == CROWD


def test_a_crowd_arriving_at_one_instant_keeps_every_address(mn_key: KeyPair) -> None:
    net = crowd_moves(mn_key, spread=0.0)
    assert net.notices(event="address-lost") == []
    assert len(net.notices(event="binding-registered")) == CROWD
