"""End to end: DarCores and an MnCore on the virtual network, each scenario run twice, once
over the stand-in spans and once through the real Scapy codec (encode, bytes, decode).

Covers profile §2-§8 together: attachment, handover with several anchors, bidirectional
tunnelling with anti-spoofing, release by flows, return home, a DAR restart (147), loss,
secure mode's doubled signalling delay (§5) and a BA signed by the DAR (RFC 4866 §4.3).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from standin_codec import carry
from topology import CN, DAR1, DAR2, DAR3, P1, P2, P3, seeded
from virtual_net import Net, codec_wire

from scapy_fama.crypto import KeyPair, cga_generate
from scapy_fama.proto import DarConfig, DarCore, KeepPolicy, MnConfig, MnCore
from scapy_fama.proto.effects import Notify
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Datagram, Message, Tunnelled

WIRES = {"standin": carry, "codec": codec_wire}


@pytest.fixture(params=sorted(WIRES))
def wire(request: pytest.FixtureRequest) -> Callable[[Message], Message]:
    return WIRES[request.param]


def network(
    key: KeyPair,
    wire: Callable[[Message], Message],
    dar_config: DarConfig = DarConfig(),
    **mn_config: Any,
) -> tuple[Net, list[DarCore], MnCore]:
    net = Net(wire=wire)
    dars = [
        net.add_dar(DarCore(a, p, config=dar_config, rand=seeded(i)))
        for i, (a, p) in enumerate([(DAR1, P1), (DAR2, P2), (DAR3, P3)])
    ]
    config = MnConfig(**{"sec": 0, "dad_delay": 0.0, **mn_config})
    return net, dars, net.add_mn("mn", MnCore(key, config=config, rand=seeded(5)))


def move(net: Net, mn: MnCore, dar: DarCore, settle: float = 1.0) -> str:
    net.attach("mn", dar)
    net.run(settle)
    assert mn.current_address is not None
    return mn.current_address


def first_time(net: Net, event: str, since: float = 0.0) -> float:
    return next(
        e.at
        for e in net.log
        if e.at >= since and isinstance(e.effect, Notify) and e.effect.event == event
    )


def test_a_day_in_the_life(mn_key: KeyPair, wire: Callable[[Message], Message]) -> None:
    net, (d1, d2, d3), mn = network(mn_key, wire)  # keep policy: flows
    hoa1 = move(net, mn, d1)
    mn.open_flow(hoa1)
    net.cn_send(hoa1, b"native")
    net.run(0.1)
    assert net.delivered("mn")[-1].payload == b"native"  # on the home link: no tunnel

    coa2 = move(net, mn, d2)
    assert d1.binding(hoa1).coa == coa2
    net.cn_send(hoa1, b"down")
    net.call(mn, mn.send(hoa1, CN, 7000, 7000, b"up", net.now))
    net.run(0.1)
    down = net.delivered("mn")[-1]
    assert (down.payload, down.dst, down.hlim) == (b"down", hoa1, 63)  # DAR1 decremented it
    up = net.cn_inbox[-1]
    assert (up.payload, up.src, up.hlim) == (b"up", hoa1, 63)  # decapsulated and forwarded

    mn.open_flow(coa2)
    coa3 = move(net, mn, d3)
    assert d1.binding(hoa1).coa == coa3 and d2.binding(coa2).coa == coa3  # two anchors

    net.call(mn, mn.close_flow(coa2, net.now))
    net.run(1.0)
    assert d2.binding(coa2) is None and coa2 not in mn.addresses()
    assert d2.record(coa2) is not None  # the security record outlives the binding

    hoa_again = move(net, mn, d1)  # back home: de-registration from home
    assert hoa_again == hoa1 and d1.binding(hoa1) is None
    net.cn_send(hoa1, b"home again")
    net.run(0.1)
    assert net.delivered("mn")[-1].payload == b"home again"
    assert "address-lost" not in net.events("mn") and net.drops() == []


def test_the_dar_drops_a_spoofed_reverse_tunnel(
    mn_key: KeyPair, wire: Callable[[Message], Message]
) -> None:
    net, (d1, d2, _), mn = network(mn_key, wire, keep=KeepPolicy.ALL)
    hoa = move(net, mn, d1)
    move(net, mn, d2)
    forged = Tunnelled("2001:db8:3::666", DAR1, Datagram(hoa, CN, 1, 2, b"spoof"))
    net.call(d1, d1.on_message(wire(forged), net.now))
    assert net.drops(d1) == ["spoofed-tunnel"] and net.cn_inbox == []


def test_a_restarted_dar_answers_147_and_the_mn_signs_again(
    mn_key: KeyPair, wire: Callable[[Message], Message]
) -> None:
    net, (d1, d2, d3), mn = network(mn_key, wire, keep=KeepPolicy.ALL)
    hoa = move(net, mn, d1)
    move(net, mn, d2)
    fresh = net.add_dar(DarCore(DAR1, P1, rand=seeded(42)))  # the same DAR after a reboot
    move(net, mn, d3)
    statuses = [ba.status for ba in net.sent(DAR1, BindingAck)]
    assert statuses[-2:] == [147, 0]
    assert fresh.binding(hoa).coa == mn.current_address and "phkt-stored" in net.events("mn")


def test_bindings_come_through_a_lossy_network(
    mn_key: KeyPair, wire: Callable[[Message], Message]
) -> None:
    net, dars, mn = network(mn_key, wire, keep=KeepPolicy.ALL)
    coin = random.Random(3)
    move(net, mn, dars[0])
    net.lose = lambda msg: coin.random() < 0.4
    for dar in (dars[1], dars[2], dars[0], dars[1]):
        move(net, mn, dar, settle=40.0)
    current = mn.current_address
    for address in mn.addresses():
        record = mn.record(address)
        if address != current:
            assert next(d for d in dars if d.address == record.dar).binding(address).coa == current
    assert len(net.lost) > 5


def test_secure_mode_doubles_the_signalling_delay(
    mn_key: KeyPair, wire: Callable[[Message], Message]
) -> None:
    delays = {}
    for secure in (False, True):
        net, dars, mn = network(
            mn_key, wire, DarConfig(require_coa_test=secure), keep=KeepPolicy.ALL, coa_test=secure
        )
        move(net, mn, dars[0])
        start = net.now
        move(net, mn, dars[1])
        delays[secure] = first_time(net, "binding-registered", start) - first_time(
            net, "address-configured", start
        )
    assert delays[False] == pytest.approx(2 * net.delay)  # BU, BA: one round trip
    assert delays[True] == pytest.approx(4 * net.delay)  # CoTI, CoT, BU, BA: two (profile §5)


def test_the_mn_checks_a_ba_signed_by_the_dar(
    mn_key: KeyPair, dar_key: KeyPair, wire: Callable[[Message], Message]
) -> None:
    net = Net(wire=wire)
    dar_cga = cga_generate(P1, dar_key, sec=0, modifier=b"\x03" * 16)
    d1 = net.add_dar(
        DarCore(dar_cga.address, P1, rand=seeded(1), keypair=dar_key, cga_params=dar_cga.params)
    )
    d2 = net.add_dar(DarCore(DAR2, P2, rand=seeded(2)))
    config = MnConfig(sec=0, dad_delay=0.0, keep=KeepPolicy.ALL, request_dar_signature=True)
    mn = net.add_mn("mn", MnCore(mn_key, config=config, rand=seeded(5)))
    hoa = move(net, mn, d1)
    move(net, mn, d2)
    first_bu = next(m for m in net.sent("mn", BindingUpdate) if m.hoa == hoa)
    assert first_bu.cga_request and d1.binding(hoa) is not None
    assert "binding-registered" in net.events("mn") and net.drops("mn") == []
    # DAR2 has no keys, so it cannot sign: the MN refuses its PHKT BA when it moves on
    move(net, mn, d1)
    assert "dar-signature" in net.drops("mn")
