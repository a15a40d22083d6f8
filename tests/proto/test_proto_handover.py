"""End to end: DarCores and an MnCore on a SimNet, each scenario run twice, once with SimNet's
object carrier and once through real bytes (the Scapy codec: encode, bytes, decode).

Covers profile §2-§8 together: attachment, handover with several anchors, bidirectional
tunnelling with anti-spoofing, release by flows, return home, a DAR restart (147), loss,
secure mode's doubled signalling delay (§5) and a BA signed by the DAR (RFC 4866 §4.3).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from simworld import DELAY, World
from topology import CN, DAR1

from scapy_fama.crypto import KeyPair, cga_generate
from scapy_fama.proto import DarConfig, KeepPolicy
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Datagram, Tunnelled


@pytest.fixture(params=["objects", "bytes"])
def wire(request: pytest.FixtureRequest) -> bool:
    """SimNet's object carrier, or real bytes through the codec (``wire=True``)."""
    return request.param == "bytes"


def network(key: KeyPair, wire: bool, dar_config: DarConfig = DarConfig(), **mn_config: Any) -> World:
    return World(key, dar_config, wire=wire, **{"sec": 0, "dad_delay": 0.0, **mn_config})


def move(world: World, i: int, settle: float = 1.0) -> str:
    return world.visit(i, settle)


def test_a_day_in_the_life(mn_key: KeyPair, wire: bool) -> None:
    world = network(mn_key, wire)  # keep policy: flows
    mn, (d1, d2, _) = world.mn, world.dars
    hoa1 = move(world, 0)
    mn.open_flow(hoa1)
    world.cn_send(hoa1, b"native")
    world.run(0.1)
    assert world.delivered()[-1].payload == b"native"  # on the home link: no tunnel

    coa2 = move(world, 1)
    assert d1.binding(hoa1).coa == coa2
    world.cn_send(hoa1, b"down")
    world.call(lambda: mn.send(hoa1, CN, 7000, 7000, b"up", world.now))
    world.run(0.1)
    down = world.delivered()[-1]
    assert (down.payload, down.dst, down.hlim) == (b"down", hoa1, 63)  # DAR1 decremented it
    up = world.delivered("cn")[-1]
    assert (up.payload, up.src, up.hlim) == (b"up", hoa1, 63)  # decapsulated and forwarded

    mn.open_flow(coa2)
    coa3 = move(world, 2)
    assert d1.binding(hoa1).coa == coa3 and d2.binding(coa2).coa == coa3  # two anchors

    world.call(lambda: mn.close_flow(coa2, world.now))
    world.run(1.0)
    assert d2.binding(coa2) is None and coa2 not in mn.addresses()
    assert d2.record(coa2) is not None  # the security record outlives the binding

    hoa_again = move(world, 0)  # back home: de-registration from home
    assert hoa_again == hoa1 and d1.binding(hoa1) is None
    world.cn_send(hoa1, b"home again")
    world.run(0.1)
    assert world.delivered()[-1].payload == b"home again"
    assert "address-lost" not in world.events() and world.drops() == []


def test_the_dar_drops_a_spoofed_reverse_tunnel(mn_key: KeyPair, wire: bool) -> None:
    world = network(mn_key, wire, keep=KeepPolicy.ALL)
    hoa = move(world, 0)
    move(world, 1)
    eve = world.net.add_cn("eve", "2001:db8:ee::1")
    forged = Tunnelled("2001:db8:3::666", DAR1, Datagram(hoa, CN, 1, 2, b"spoof"))
    world.net.inject(eve, forged)
    world.run(0.1)
    assert world.drops("dar1") == ["spoofed-tunnel"] and world.delivered("cn") == []


def test_a_restarted_dar_answers_147_and_the_mn_signs_again(mn_key: KeyPair, wire: bool) -> None:
    world = network(mn_key, wire, keep=KeepPolicy.ALL)
    d1 = world.dars[0]
    hoa = move(world, 0)
    move(world, 1)
    world.net.restart(d1)  # the same DAR after a reboot: no PHKT, no binding
    move(world, 2)
    statuses = [ba.status for ba in world.sent(BindingAck, "dar1")]
    assert statuses[-2:] == [147, 0]
    assert d1.binding(hoa).coa == world.mn.current_address and "phkt-stored" in world.events()


def test_bindings_come_through_a_lossy_network(mn_key: KeyPair, wire: bool) -> None:
    world = network(mn_key, wire, keep=KeepPolicy.ALL)
    mn, dars = world.mn, world.dars
    coin = random.Random(3)
    move(world, 0)
    world.lose(lambda msg: coin.random() < 0.4)
    for i in (1, 2, 0, 1):
        move(world, i, settle=40.0)
    current = mn.current_address
    for address in mn.addresses():
        record = mn.record(address)
        if address != current:
            assert next(d for d in dars if d.address == record.dar).binding(address).coa == current
    assert len(world.net.hops(lost=True)) > 5


def test_secure_mode_doubles_the_signalling_delay(mn_key: KeyPair, wire: bool) -> None:
    delays = {}
    for secure in (False, True):
        world = network(
            mn_key, wire, DarConfig(require_coa_test=secure), keep=KeepPolicy.ALL, coa_test=secure
        )
        move(world, 0)
        start = world.now
        move(world, 1)
        (registered, *_) = world.notice_times("binding-registered", since=start)
        (configured, *_) = world.notice_times("address-configured", since=start)
        delays[secure] = registered - configured
    round_trip = 2 * (DELAY + DELAY)  # MN -> DAR2 -> DAR1 over the access link and the backbone
    assert delays[False] == pytest.approx(round_trip)  # BU, BA: one round trip
    assert delays[True] == pytest.approx(2 * round_trip)  # CoTI, CoT, BU, BA: two (profile §5)


def test_the_mn_checks_a_ba_signed_by_the_dar(mn_key: KeyPair, dar_key: KeyPair, wire: bool) -> None:
    dar_cga = cga_generate("2001:db8:1::/64", dar_key, sec=0, modifier=b"\x03" * 16)
    signing = {"address": dar_cga.address, "keypair": dar_key, "cga_params": dar_cga.params}
    world = network(mn_key, wire, dars=[signing, {}, {}], keep=KeepPolicy.ALL, request_dar_signature=True)
    d1 = world.dars[0]
    hoa = move(world, 0)
    move(world, 1)
    first_bu = next(m for m in world.sent(BindingUpdate) if m.hoa == hoa)
    assert first_bu.cga_request and d1.binding(hoa) is not None
    assert "binding-registered" in world.events() and world.drops() == []
    # DAR2 has no keys, so it cannot sign: the MN refuses its PHKT BA when it moves on
    move(world, 0)
    assert "dar-signature" in world.drops()
